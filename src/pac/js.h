/* The PAC evaluator's JavaScript side (js.c): one Duktape heap holding the loaded PAC, the
 * standard PAC functions bound into it (built on src/client/route/pac_funcs.c), and the two
 * operations the evaluator's loop needs, load and find. The heap's allocator has a cap, so a
 * PAC that allocates without end gets a JavaScript error here ("out of memory"), not a crash.
 * No I/O: DNS answers, the source address and the time come with each request, and alert()
 * messages go to a callback.
 */
#pragma once

#include <stddef.h>

#include "shared/pac_proto.h"

/* The Duktape heap's cap. */
#define KG_PAC_HEAP_MAX (64u * 1024 * 1024)

struct kg_pac_js;

/* alert(msg): msg is printable and at most KG_PAC_TEXT_MAX bytes; at most KG_PAC_ALERTS_MAX
 * calls per load or find. */
typedef void (*kg_pac_alert_fn)(void *ud, const char *msg, size_t len);

struct kg_pac_js *kg_pac_js_new(size_t heap_max, kg_pac_alert_fn alert, void *ud);
void kg_pac_js_free(struct kg_pac_js *js);

/* Replaces the loaded PAC with script (a fresh heap) and runs its top level. KG_PAC_OK, or
 * KG_PAC_ERROR with *kind and a sentence in err ("PAC syntax error at line 3: ...", "PAC
 * threw while loading: ...", "PAC defines no function FindProxyForURL", "out of memory").
 * After an error no PAC is loaded. */
int kg_pac_js_load(struct kg_pac_js *js, const char *script, size_t len, enum kg_pac_err *kind,
		   char *err, size_t errlen);

/* Calls FindProxyForURL(f->url, f->host). KG_PAC_RESULT with the answer in out (control
 * characters become spaces), KG_PAC_NEED_DNS with the host name the PAC asked about that
 * f->dns lacks in out (the evaluation was abandoned), or KG_PAC_ERROR with *kind and a
 * sentence in out ("PAC threw: ...", "FindProxyForURL returned a number", "out of memory",
 * "no PAC loaded"). outlen must be more than KG_PAC_RESULT_MAX. */
int kg_pac_js_find(struct kg_pac_js *js, const struct kg_pac_find *f, enum kg_pac_err *kind,
		   char *out, size_t outlen);
