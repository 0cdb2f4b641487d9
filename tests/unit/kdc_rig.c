/* The throwaway KDC of the unit tests (kdc_rig.h). */
#include "tests/unit/kdc_rig.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef KG_TOP_SRCDIR
#define KG_TOP_SRCDIR "."
#endif

char kdc_rig_dir[PATH_MAX];
char kdc_rig_conf[PATH_MAX + 16];
int kdc_rig_port;
pid_t kdc_rig_pid = -1;
static char helper[PATH_MAX];

int kdc_rig_run(char *const argv[])
{
	pid_t pid;
	int status;

	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int kdc_rig_cmd(const char *cmd, const char *a, const char *b, const char *c, const char *d,
		const char *e)
{
	char *argv[] = {"bash",	   helper,    (char *)cmd, kdc_rig_dir, (char *)a,
			(char *)b, (char *)c, (char *)d,   (char *)e,	NULL};

	return kdc_rig_run(argv);
}

const char *kdc_rig_cc(const char *name)
{
	static char buf[2][PATH_MAX + 8];
	static int i;

	i ^= 1;
	snprintf(buf[i], sizeof(buf[i]), "FILE:%s/%s", kdc_rig_dir, name);
	return buf[i];
}

void kdc_rig_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

bool kdc_rig_listening(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)kdc_rig_port)};
	int fd, r;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return r == 0;
}

int kdc_rig_skip(const char *why)
{
	const char *req = getenv("KG_REQUIRE_PRIVILEGED");

	if (req && strcmp(req, "1") == 0) {
		fprintf(stderr, "FAIL (KG_REQUIRE_PRIVILEGED=1, would skip): %s\n", why);
		return 99;
	}
	fprintf(stderr, "SKIP: %s\n", why);
	return 77;
}

void kdc_rig_stop_kdc(void)
{
	int i, status;

	if (kdc_rig_pid <= 0)
		return;
	kill(kdc_rig_pid, SIGTERM);
	for (i = 0; i < 30; i++) {
		if (waitpid(kdc_rig_pid, &status, WNOHANG) != 0)
			break;
		kdc_rig_sleep_ms(100);
	}
	if (i == 30) {
		kill(kdc_rig_pid, SIGKILL);
		waitpid(kdc_rig_pid, &status, 0);
	}
	kdc_rig_pid = -1;
}

void kdc_rig_teardown(int r)
{
	kdc_rig_stop_kdc();
	if (!kdc_rig_dir[0])
		return;
	if (r != 0 && r != 77) {
		char *argv[] = {"sh", "-c", "tail -n 20 \"$0\"/logs/* >&2", kdc_rig_dir, NULL};

		kdc_rig_run(argv);
	}
	{
		char *argv[] = {"rm", "-rf", kdc_rig_dir, NULL};

		kdc_rig_run(argv);
	}
}

static int read_port(void)
{
	char path[PATH_MAX + 16];
	FILE *f;

	snprintf(path, sizeof(path), "%s/kdc.port", kdc_rig_dir);
	f = fopen(path, "re");
	if (!f || fscanf(f, "%d", &kdc_rig_port) != 1) {
		if (f)
			fclose(f);
		fprintf(stderr, "no %s\n", path);
		return -1;
	}
	fclose(f);
	return 0;
}

int kdc_rig_setup(const char *prefix, const struct kdc_rig_user *users, bool keytab)
{
	const char *top = getenv("top_srcdir");
	char path[PATH_MAX + 32], pw[128];
	char *tools[] = {"sh", "-c",
			 "command -v krb5kdc kdb5_util kadmin.local kinit kdestroy >/dev/null",
			 NULL};
	int i;

	/* the KDC tools live in sbin, which an unprivileged PATH may lack */
	snprintf(path, sizeof(path), "%s:/usr/sbin:/sbin", getenv("PATH") ? getenv("PATH") : "");
	setenv("PATH", path, 1);
	if (kdc_rig_run(tools) != 0)
		return kdc_rig_skip("needs krb5kdc, kdb5_util, kadmin.local (krb5-kdc, "
				    "krb5-admin-server) and kinit (krb5-user)");
	snprintf(helper, sizeof(helper), "%s/tests/lib/krbrig-kdc.sh", top ? top : KG_TOP_SRCDIR);
	if (access(helper, R_OK) != 0) {
		fprintf(stderr, "cannot read %s\n", helper);
		return 99;
	}
	snprintf(kdc_rig_dir, sizeof(kdc_rig_dir), "%s/%s.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", prefix);
	if (!mkdtemp(kdc_rig_dir)) {
		kdc_rig_dir[0] = '\0';
		perror("mkdtemp");
		return 99;
	}
	if (kdc_rig_cmd("init", NULL, NULL, NULL, NULL, NULL) != 0) {
		fprintf(stderr, "KDC setup failed\n");
		return 99;
	}
	for (; users && users->name; users++) {
		snprintf(pw, sizeof(pw), "%spw", users->name);
		if (kdc_rig_cmd("addprinc", users->name, pw, NULL, NULL, NULL) != 0) {
			fprintf(stderr, "KDC setup failed: principal %s\n", users->name);
			return 99;
		}
	}
	if (read_port() < 0)
		return 99;

	snprintf(kdc_rig_conf, sizeof(kdc_rig_conf), "%s/krb5.conf", kdc_rig_dir);
	setenv("KRB5_CONFIG", kdc_rig_conf, 1);
	if (keytab) {
		snprintf(path, sizeof(path), "FILE:%s/http.keytab", kdc_rig_dir);
		setenv("KRB5_KTNAME", path, 1);
	}
	snprintf(path, sizeof(path), "%s/rcache", kdc_rig_dir);
	setenv("KRB5RCACHEDIR", path, 1);
	/* never the invoking user's own tickets */
	snprintf(path, sizeof(path), "FILE:%s/cc-unset", kdc_rig_dir);
	setenv("KRB5CCNAME", path, 1);
	unsetenv("KRB5_CLIENT_KTNAME");

	kdc_rig_pid = fork();
	if (kdc_rig_pid < 0)
		return 99;
	if (kdc_rig_pid == 0) {
		char *argv[] = {"bash", helper, "exec-kdc", kdc_rig_dir, NULL};

		execvp(argv[0], argv);
		_exit(127);
	}
	for (i = 0; i < 50 && !kdc_rig_listening(); i++)
		kdc_rig_sleep_ms(100);
	if (!kdc_rig_listening()) {
		fprintf(stderr, "the KDC does not listen on 127.0.0.1:%d\n", kdc_rig_port);
		return 99;
	}
	return 0;
}
