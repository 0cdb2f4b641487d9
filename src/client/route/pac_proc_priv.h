/* The PAC evaluator's client side, private state (pac_proc.h is the interface): struct
 * kg_pac_proc with its pipeline, shared by pac_proc.c (the child: spawn, I/O with a deadline,
 * LOAD, kill and restart) and pac_proc_queue.c (the pipelined requests), and the child's
 * helpers the pipeline uses. Not for other modules.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "client/route/pac_proc.h"
#include "shared/pac_proto.h"

/* The largest answer body: ERROR (type, kind, length, text, NUL) or RESULT. */
#define ANSWER_BODY_MAX (1 + 1 + 4 + KG_PAC_RESULT_MAX + 1)
#define PIPE		KG_PAC_PROC_PIPELINE_MAX

/* A request's own DNS table, made when the evaluator first asks it for a name: the first
 * frame decoded (its strings point into orig) and the names added since. */
struct work {
	uint8_t *orig;
	struct kg_pac_msg m;
	char names[KG_PAC_DNS_MAX][KG_PAC_HOST_MAX + 1];
};

/* One request in the pipeline. */
struct slot {
	void *tag;
	kg_pac_resolve_fn resolve; /* NULL: NEED_DNS goes back to the caller */
	void *rud;
	uint8_t *frame; /* the FIND frame, kept until the answer (sent again after a restart) */
	size_t len, cap;
	struct work *w;
	unsigned rounds; /* NEED_DNS answers so far */
	bool retried;	 /* sent again after the evaluator reached its CPU limit */
	bool dropped;	 /* kg_pac_proc_drop: its answer is read and thrown away */
};

struct kg_pac_proc {
	char *path;
	unsigned find_ms, load_ms;
	void (*on_alert)(void *ud, const char *msg);
	void *ud;

	pid_t pid;   /* -1: not running */
	int died_of; /* the signal that ended the last evaluator that died, or 0 */
	int fd;
	unsigned restarts;

	char *pac; /* the PAC that loaded last, for restarts; NULL: none */
	size_t pac_len;
	bool loaded;

	/* The pipeline: ring[head] is the oldest request in flight, count of them; the first
	 * nsent are sent whole, and sent_off bytes of the next one. head_since: when ring[head]
	 * became the oldest (its deadline runs from there). */
	struct slot ring[PIPE];
	unsigned head, count, nsent;
	size_t sent_off;
	int64_t head_since;

	/* Answer frames as received, unread ones in [off, have); room for one whole frame and
	 * the start of another (a whole frame is taken out before the next read). */
	uint8_t answer[2 * (KG_PAC_FRAME_HDR + ANSWER_BODY_MAX)];
	size_t off, have;
	bool popped_dropped; /* the request pop_head took out last was dropped */
};

/* The monotonic clock in ms (the deadlines'). */
static inline int64_t pac_proc_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Kills (by PID) and reaps the evaluator; its wait status, or -1 when none was running. */
int pac_proc_stop_child(struct kg_pac_proc *p);
/* Waits for events on the socket until the deadline: the revents, or -ETIMEDOUT (-ECHILD when
 * poll fails). */
int pac_proc_wait_fd(struct kg_pac_proc *p, short events, int64_t deadline);
/* A whole frame at p->answer + p->off: 1 (its body length in *blen), 0 not yet, -EPROTO. */
int pac_proc_frame_ready(const struct kg_pac_proc *p, size_t *blen);
/* Reads what the socket holds: 0, or -ECHILD when the evaluator is gone. */
int pac_proc_read_some(struct kg_pac_proc *p);
/* After a failed exchange (r < 0): says what happened into err, kills the evaluator and
 * starts a new one, reloading the PAC. Returns r. */
int pac_proc_fail_and_restart(struct kg_pac_proc *p, int r, const char *what, unsigned ms,
			      char *err, size_t errlen);
/* Starts the evaluator when none runs (reload: with the PAC that loaded last). 0, or -errno
 * with a sentence in err. */
int pac_proc_ensure_running(struct kg_pac_proc *p, bool reload, char *err, size_t errlen);
