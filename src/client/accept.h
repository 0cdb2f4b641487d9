/* Taking connections off the relay listeners (accept.c): which are served (conn.h), which are
 * refused, and the rate-limited log of the refusals.
 */
#pragma once

#include "client/client.h"

/* Sets up the listeners' loop sources and the refusal log's timer. */
void accept_init(struct kg_client *cl);
