/* The PAC evaluator's pipelined requests (pac_proc_queue.c), what the child's side
 * (pac_proc.c) needs of them; the requests' API itself (kg_pac_proc_submit, _complete, _drop,
 * ...) is pac_proc.h's. Private to pac_proc.
 */
#pragma once

struct kg_pac_proc;

/* Frees what the pipeline's slots hold (kg_pac_proc_free). */
void pac_proc_queue_free(struct kg_pac_proc *p);
