/* A recording desktop notification server for tests/integration/client-desktop-notify.sh:
 * owns org.freedesktop.Notifications on the bus at argv[1] and writes one line per call to
 * stdout, "notify <replaces_id>|<app_name>|<summary>|<body>" or "close <id>", answering
 * Notify with ids 1, 2, ... "ready" is the first line, once the name is owned.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-bus.h>

#define DN_NAME "org.freedesktop.Notifications"

static uint32_t next_id = 1;

static int on_message(sd_bus_message *m, void *ud, sd_bus_error *err)
{
	const char *app, *icon, *summary, *body;
	uint32_t replaces, id;

	(void)ud;
	(void)err;
	if (sd_bus_message_is_method_call(m, DN_NAME, "CloseNotification")) {
		if (sd_bus_message_read(m, "u", &id) < 0)
			return 0;
		printf("close %u\n", id);
		fflush(stdout);
		sd_bus_reply_method_return(m, NULL);
		return 1;
	}
	if (!sd_bus_message_is_method_call(m, DN_NAME, "Notify") ||
	    sd_bus_message_read(m, "susss", &app, &replaces, &icon, &summary, &body) < 0)
		return 0;
	printf("notify %u|%s|%s|%s\n", replaces, app, summary, body);
	fflush(stdout);
	sd_bus_reply_method_return(m, "u", next_id++);
	return 1;
}

int main(int argc, char **argv)
{
	sd_bus *bus = NULL;

	if (argc != 2) {
		fprintf(stderr, "usage: %s BUS-ADDRESS\n", argv[0]);
		return 2;
	}
	if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, argv[1]) < 0 ||
	    sd_bus_set_bus_client(bus, 1) < 0 || sd_bus_start(bus) < 0 ||
	    sd_bus_add_filter(bus, NULL, on_message, NULL) < 0 ||
	    sd_bus_request_name(bus, DN_NAME, 0) < 0) {
		fprintf(stderr, "kg-notify-recorder: cannot own %s on %s\n", DN_NAME, argv[1]);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		if (sd_bus_process(bus, NULL) < 0 || sd_bus_wait(bus, UINT64_MAX) < 0)
			break;
	}
	sd_bus_unref(bus);
	return 0;
}
