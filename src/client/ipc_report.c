/* The client's reports to the service (KG_MSG_CLIENT_INFO): the tunnel counts and the Kerberos
 * ticket's state, made by the Kerberos worker, with a warning in the journal before the ticket
 * ends. ipc_client.c's timer asks for one (ipc_client_request_info); see ipc_client.h. The
 * same answer drives the desktop notice of a missing or ending ticket (desktop_notify.h).
 * The route reports for `ctl watch` are ipc_report_route.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "client/auth/authq.h"
#include "client/client.h"
#include "client/desktop_notify.h"
#include "client/ipc_client.h"
#include "client/ipc_report.h"
#include "shared/ipc.h"
#include "shared/log.h"

/* kerberos.warn_before, in force for the journal's warning too when it is the longer. */
static unsigned warn_before(const struct kg_client *cl)
{
	return cl->set ? cl->set->cfg.kerberos.warn_before : 0;
}

/* KG_MSG_CLIENT_INFO: the tunnel counts, and the ticket when tk (warning before it ends). */
static void send_report(struct kg_client *cl, const struct negotiate_ticket *tk)
{
	struct kg_ipc_client_report rep = {0};
	time_t now = time(NULL);
	time_t warn_s = warn_before(cl) > CLIENT_EXPIRY_WARN_S ? (time_t)warn_before(cl)
							       : (time_t)CLIENT_EXPIRY_WARN_S;

	/* The cache the tokens come from: in a DIR or KCM collection, the one chosen for the
	 * proxy, not necessarily the primary. */
	if (tk) {
		snprintf(rep.principal, sizeof(rep.principal), "%s", tk->principal);
		rep.ticket_expiry = tk->has_tgt ? (int64_t)tk->tgt_end : 0;
		if (tk->has_tgt && tk->tgt_end != cl->warned_expiry) {
			if (tk->tgt_end <= now) {
				cl->warned_expiry = tk->tgt_end;
				log_warn("the Kerberos ticket of %s has expired: run kinit",
					 tk->principal);
			} else if (tk->tgt_end - now < warn_s) {
				cl->warned_expiry = tk->tgt_end;
				log_warn("the Kerberos ticket of %s expires in %ld min: run kinit "
					 "(or kinit -R) soon",
					 tk->principal, (long)(tk->tgt_end - now + 59) / 60);
			}
		}
	}
	rep.tunnels_active = cl->tunnels_active;
	rep.tunnels_total = cl->tunnels_total;
	rep.tunnels_failed = cl->tunnels_failed;
	if (cl->ipc_fd >= 0 && cl->registered)
		kg_ipc_send(cl->ipc_fd, KG_MSG_CLIENT_INFO, 0, &rep, sizeof(rep), NULL, 0);
}

/* The desktop notice of the ticket (r: the worker's answer, -ENOENT: no ticket). None when
 * the proxy takes no ticket (no proxy, or off the corporate network), nor from the system
 * relay: it has no user session, and renews the keytab's tickets itself. */
static void notify_desktop(struct kg_client *cl, int r, const struct negotiate_ticket *tk)
{
	struct timespec mono;

	if (cl->system || !cl->set || cl->set->cfg.proxy.type == KG_PROXY_NONE || cl->route_direct)
		return;
	if (r < 0 && r != -ENOENT)
		return; /* an unusable cache: not the user's to renew */
	clock_gettime(CLOCK_MONOTONIC, &mono);
	(void)desktop_notify_ticket(r == 0 ? tk : NULL, time(NULL), (uint64_t)mono.tv_sec,
				    warn_before(cl));
}

/* The worker's ticket report (job->r < 0: no ticket to report). */
static void on_ticket(void *ctx, struct auth_job *job)
{
	struct kg_client *cl = ctx;

	cl->info_pending = false;
	if (cl->info_again) {
		cl->info_again = false;
		(void)kg_loop_timer_arm(&cl->info_timer, 0);
	}
	send_report(cl, job->r == 0 ? job->ticket : NULL);
	notify_desktop(cl, job->r, job->ticket);
	authq_job_free(job);
}

void ipc_client_request_info(struct kg_client *cl)
{
	/* One report in the worker's queue at a time; a request meanwhile (a reload) makes the
	 * next one start as soon as it is back, with the settings of then. */
	if (cl->info_pending) {
		cl->info_again = true;
		return;
	}
	if (cl->set) {
		const struct authq_request req = {
		    .proxy_host = cl->set->proxy.host,
		    .spn = cl->set->cfg.kerberos.spn,
		    .ccache = client_settings_ccache(cl->set),
		};

		cl->info_pending = authq_submit_ticket(&req, on_ticket) != NULL;
	}
	if (cl->info_pending)
		return;
	send_report(cl, NULL); /* the counts at least */
}
