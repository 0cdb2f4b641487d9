/* One Negotiate token in the making or made, as a connection to the proxy (upstream.h), a warm
 * spare (warm.c) and a spare handed out (warm.h) hold it: the Kerberos worker's job while it is
 * being made, then the GSS context it came from and the base64 token. Everything that drops a
 * token goes through kg_token_slot_release(), so that none is freed in part.
 */
#pragma once

#include <stdlib.h>

#include "client/auth/authq.h"
#include "client/auth/negotiate.h"

struct kg_token_slot {
	struct auth_job *job;	   /* being made by the worker, NULL: none */
	struct negotiate_ctx *neg; /* the context of the token, NULL: none */
	char *token;		   /* base64 to send, NULL: none */
};

/* Cancel the job, free the context and the token; the slot is empty after. */
static inline void kg_token_slot_release(struct kg_token_slot *s)
{
	if (s->job)
		authq_cancel(s->job);
	negotiate_free(s->neg);
	free(s->token);
	*s = (struct kg_token_slot){0};
}
