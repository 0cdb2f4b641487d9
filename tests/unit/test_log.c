/* Unit tests of the logger (src/shared/log.c): level names and filtering, the "<N>" stderr
 * format, the log_path line format, truncation, journal detection from $JOURNAL_STREAM, the
 * libbpf bridge and the rate limit for lines a peer can cause (ratelimit.c). stderr is
 * redirected to a temporary file per test (check forks each test); the files are in a directory
 * of the run's, removed by the runner after the last test even when a test failed (a failed
 * test's process ends before its checked teardown). */
#include <bpf/libbpf.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/load_report.h"
#include "shared/log.h"

static char tmp_dir[512];
static char stderr_path[512];
static char file_path[512];

static void make_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%ld-%s", tmp_dir, (long)getpid(), name);
}

/* The run's directory, made before the first test (in the runner, so every test's process
 * inherits its name). */
static void make_tmp_dir(void)
{
	const char *dir = getenv("TMPDIR");

	snprintf(tmp_dir, sizeof(tmp_dir), "%s/kg-test-log.XXXXXX", dir ? dir : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
}

/* After the last test, in the runner: whatever the tests left (a failed one keeps its files). */
static void remove_tmp_dir(void)
{
	DIR *d = opendir(tmp_dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(tmp_dir);
}

static void capture_stderr(void)
{
	int fd;

	make_path(stderr_path, sizeof(stderr_path), "stderr");
	fd = open(stderr_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
	unsetenv("JOURNAL_STREAM");
}

/* The whole content of path (static buffer, NUL-terminated). */
static const char *slurp(const char *path)
{
	static char buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, sizeof(buf) - 1);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	close(fd);
	return buf;
}

static void teardown(void)
{
	kg_log_close();
	if (stderr_path[0])
		unlink(stderr_path);
	if (file_path[0])
		unlink(file_path);
}

START_TEST(test_level_from_string)
{
	ck_assert_int_eq(kg_log_level_from_string("debug"), LOG_DEBUG);
	ck_assert_int_eq(kg_log_level_from_string("info"), LOG_INFO);
	ck_assert_int_eq(kg_log_level_from_string("warn"), LOG_WARNING);
	ck_assert_int_eq(kg_log_level_from_string("error"), LOG_ERR);
	ck_assert_int_eq(kg_log_level_from_string("warning"), -EINVAL);
	ck_assert_int_eq(kg_log_level_from_string("INFO"), -EINVAL);
	ck_assert_int_eq(kg_log_level_from_string(""), -EINVAL);
	ck_assert_int_eq(kg_log_level_from_string(NULL), -EINVAL);
}
END_TEST

START_TEST(test_defaults_before_open)
{
	capture_stderr();
	ck_assert_int_eq(kg_log_get_level(), LOG_INFO);
	log_debug("hidden %d", 1);
	log_info("shown %d", 2);
	log_error("bad %s", "thing");
	ck_assert_str_eq(slurp(stderr_path), "<6>shown 2\n<3>bad thing\n");
}
END_TEST

START_TEST(test_level_filtering)
{
	capture_stderr();
	ck_assert_int_eq(kg_log_open("kgtest", LOG_WARNING, NULL), 0);
	ck_assert_int_eq(kg_log_get_level(), LOG_WARNING);
	log_debug("d");
	log_info("i");
	log_notice("n");
	log_warn("w");
	log_error("e");
	kg_log_set_level(LOG_DEBUG);
	log_debug("d2");
	kg_log_set_level(LOG_ERR);
	log_warn("w2");
	log_fields(LOG_CRIT, NULL, "c");
	ck_assert_str_eq(slurp(stderr_path), "<4>w\n<3>e\n<7>d2\n<2>c\n");
	kg_log_set_level(99);
	ck_assert_int_eq(kg_log_get_level(), LOG_DEBUG);
	kg_log_set_level(-5);
	ck_assert_int_eq(kg_log_get_level(), LOG_EMERG);
}
END_TEST

START_TEST(test_stderr_format)
{
	capture_stderr();
	ck_assert_int_eq(kg_log_open("kgtest", LOG_DEBUG, NULL), 0);
	/* Trailing newlines are dropped; embedded control characters cannot forge a record. */
	log_info("trailing\n\n");
	log_info("two\nlines\r\x1b[2J");
	log_info("tab\tkept");
	/* Fields go to the journal only; stderr stays readable. */
	log_fields(LOG_NOTICE, KG_FIELDS({"KG_UID", "1000"}, {"KG_DEST", "192.0.2.1:443"}),
		   "with fields");
	ck_assert_str_eq(slurp(stderr_path),
			 "<6>trailing\n<6>two lines  [2J\n<6>tab\tkept\n<5>with fields\n");
}
END_TEST

START_TEST(test_errno_preserved)
{
	capture_stderr();
	errno = ENOENT;
	log_error("open: %m");
	ck_assert_int_eq(errno, ENOENT);
	log_debug("filtered");
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_str_eq(slurp(stderr_path), "<3>open: No such file or directory\n");
}
END_TEST

START_TEST(test_truncation)
{
	static char big[10000];
	const char *out;

	capture_stderr();
	memset(big, 'a', sizeof(big) - 1);
	log_info("%s", big);
	out = slurp(stderr_path);
	ck_assert_uint_eq(strlen(out), 3 + 4095 + 1);
	ck_assert_int_eq(out[strlen(out) - 1], '\n');

	/* A cut inside a multibyte character drops the partial character. */
	capture_stderr();
	memset(big, 'a', 4094);
	strcpy(big + 4094, "\xc3\xa9 tail");
	log_info("%s", big);
	out = slurp(stderr_path);
	ck_assert_uint_eq(strlen(out), 3 + 4094 + 1);
	ck_assert_int_eq(out[3 + 4093], 'a');
}
END_TEST

START_TEST(test_log_file)
{
	regex_t re;
	char want[256], line[512];
	const char *out, *nl;
	int i;
	static const char *const names[] = {"EMERG", "ALERT",  "CRIT", "ERROR",
					    "WARN",  "NOTICE", "INFO", "DEBUG"};

	capture_stderr();
	make_path(file_path, sizeof(file_path), "file.log");
	unlink(file_path);
	ck_assert_int_eq(kg_log_open("kgtest", LOG_DEBUG, file_path), 0);
	for (i = LOG_EMERG; i <= LOG_DEBUG; i++)
		log_fields(i, NULL, "level %d\nline", i);
	kg_log_set_level(LOG_INFO);
	log_debug("not in the file either");

	snprintf(want, sizeof(want),
		 "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{4} "
		 "kgtest\\[%ld\\]: [A-Z]+: level [0-7] line$",
		 (long)getpid());
	ck_assert_int_eq(regcomp(&re, want, REG_EXTENDED | REG_NOSUB), 0);
	out = slurp(file_path);
	for (i = LOG_EMERG; i <= LOG_DEBUG; i++) {
		nl = strchr(out, '\n');
		ck_assert_ptr_nonnull(nl);
		snprintf(line, sizeof(line), "%.*s", (int)(nl - out), out);
		ck_assert_msg(regexec(&re, line, 0, NULL, 0) == 0, "bad line: %s", line);
		snprintf(want, sizeof(want), ": %s: level %d line", names[i], i);
		ck_assert_msg(strstr(line, want), "want \"%s\" in %s", want, line);
		out = nl + 1;
	}
	ck_assert_str_eq(out, "");
	regfree(&re);

	/* Appends, and stderr got every record too. */
	kg_log_close();
	ck_assert_int_eq(kg_log_open("kgtest", LOG_INFO, file_path), 0);
	log_info("again");
	ck_assert_ptr_nonnull(strstr(slurp(file_path), "kgtest["));
	ck_assert_ptr_nonnull(strstr(slurp(file_path), ": INFO: again\n"));
	ck_assert_ptr_nonnull(strstr(slurp(stderr_path), "<7>level 7 line\n<6>again\n"));
	ck_assert_int_ne(fcntl(STDERR_FILENO, F_GETFD), -1);
}
END_TEST

START_TEST(test_log_file_open_failure)
{
	capture_stderr();
	make_path(file_path, sizeof(file_path), "kept.log");
	ck_assert_int_eq(kg_log_open("kgtest", LOG_INFO, file_path), 0);
	/* A bad path on reload reports the error and keeps the previous file. */
	ck_assert_int_eq(kg_log_open("kgtest", LOG_INFO, "/nonexistent-kg-dir/x.log"), -ENOENT);
	log_info("still logged");
	ck_assert_ptr_nonnull(strstr(slurp(file_path), ": INFO: still logged\n"));
	ck_assert_str_eq(slurp(stderr_path), "<6>still logged\n");
	/* An empty path closes the file. */
	ck_assert_int_eq(kg_log_open("kgtest", LOG_INFO, ""), 0);
	log_info("stderr only");
	ck_assert_ptr_null(strstr(slurp(file_path), "stderr only"));
}
END_TEST

/* The file fails (RLIMIT_FSIZE here, as a full disk would): the records still reach stderr, one
 * line there says the file is not written, and once it can be written again a line in both says
 * how many records the file is missing. */
START_TEST(test_log_file_write_failure)
{
	struct rlimit rl;
	char want[1024];
	const char *out, *nl;
	int limited, restored, pipefd[2], saved;
	char piped[4096];
	ssize_t n;
	off_t full;

	capture_stderr();
	make_path(file_path, sizeof(file_path), "full.log");
	unlink(file_path);
	ck_assert_int_eq(kg_log_open("kgtest", LOG_INFO, file_path), 0);
	log_info("first");
	full = (off_t)strlen(slurp(file_path));
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
	/* No ck_assert while the limit holds: check's own temporary file is under it too, and so
	 * is the file stderr goes to: stderr is a pipe meanwhile, copied to that file after. */
	ck_assert_int_eq(pipe(pipefd), 0);
	saved = dup(STDERR_FILENO);
	ck_assert_int_eq(dup2(pipefd[1], STDERR_FILENO), STDERR_FILENO);
	rl.rlim_cur = (rlim_t)full + 10; /* room for part of the next line only */
	limited = setrlimit(RLIMIT_FSIZE, &rl);
	log_info("second");
	log_info("third");
	log_warn("fourth");
	rl.rlim_cur = rl.rlim_max;
	restored = setrlimit(RLIMIT_FSIZE, &rl);
	ck_assert_int_eq(limited, 0);
	ck_assert_int_eq(restored, 0);
	ck_assert_int_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	close(pipefd[1]);
	while ((n = read(pipefd[0], piped, sizeof(piped))) > 0)
		ck_assert_int_eq(write(STDERR_FILENO, piped, (size_t)n), n);
	close(pipefd[0]);
	out = slurp(stderr_path);
	snprintf(want, sizeof(want),
		 "<3>cannot write to log_path %s: %s; records go to stderr only", file_path,
		 strerror(EFBIG));
	ck_assert_msg(strstr(out, want), "want \"%s\" in %s", want, out);
	ck_assert_msg(!strstr(strstr(out, want) + strlen(want), "cannot write to log_path"),
		      "twice: %s", out);
	ck_assert_ptr_nonnull(strstr(out, "<6>third\n<4>fourth\n"));

	log_info("fifth");
	snprintf(want, sizeof(want),
		 "log_path %s is written again; 3 record(s) are missing from it", file_path);
	ck_assert_ptr_nonnull(strstr(slurp(stderr_path), want));
	out = slurp(file_path);
	ck_assert_ptr_nonnull(strstr(out, want));
	ck_assert_ptr_nonnull(strstr(out, ": INFO: fifth\n"));
	ck_assert_ptr_null(strstr(out, "third"));
	/* The line the limit cut is ended: the notice starts a line of its own. */
	nl = strstr(out, ": NOTICE: log_path");
	ck_assert_ptr_nonnull(nl);
	while (nl > out && nl[-1] != '\n')
		nl--;
	ck_assert_msg(strncmp(nl, "20", 2) == 0, "the notice's line: %.80s", nl);
}
END_TEST

/* Point $JOURNAL_STREAM at stderr as systemd would (ino_offset 0), or at another inode, then
 * reopen the logger so it looks again. */
static void journal_stream_is_stderr(unsigned ino_offset)
{
	struct stat st;
	char value[64];

	ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);
	snprintf(value, sizeof(value), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino + ino_offset);
	setenv("JOURNAL_STREAM", value, 1);
	ck_assert_int_eq(kg_log_open("kgtest", LOG_INFO, NULL), 0);
}

START_TEST(test_journal_detection)
{
	static const char *const not_stderr[] = {"1:2", "garbage", "", "1:", ":1", "1:2x"};
	size_t i;

	capture_stderr();
	for (i = 0; i < sizeof(not_stderr) / sizeof(not_stderr[0]); i++) {
		setenv("JOURNAL_STREAM", not_stderr[i], 1);
		ck_assert_int_eq(kg_log_open("kgtest", LOG_INFO, NULL), 0);
		ck_assert_msg(kg_log_to_journal() == 0, "JOURNAL_STREAM=%s", not_stderr[i]);
	}
	log_info("to stderr");
	ck_assert_str_eq(slurp(stderr_path), "<6>to stderr\n");

	journal_stream_is_stderr(0);
	ck_assert_int_eq(kg_log_to_journal(), 1);
	journal_stream_is_stderr(1);
	ck_assert_int_eq(kg_log_to_journal(), 0);
}
END_TEST

/* Under journald a record goes natively to the journal and is not repeated on stderr (were it
 * also written to stderr, journald would store it twice). With no journald here, libsystemd drops
 * it silently; either way nothing reaches stderr. */
START_TEST(test_journal_no_duplicate)
{
	capture_stderr();
	journal_stream_is_stderr(0);
	ck_assert_int_eq(kg_log_to_journal(), 1);
	log_fields(LOG_INFO, KG_FIELDS({"KG_UID", "1000"}, {"bad key", "x"}), "unit test record");
	ck_assert_str_eq(slurp(stderr_path), "");
}
END_TEST

START_TEST(test_libbpf_route)
{
	struct bpf_object *obj;
	const char *out;

	capture_stderr();
	kg_log_open("kgtest", LOG_DEBUG, NULL);
	kg_log_route_libbpf();
	obj = bpf_object__open_file("/nonexistent-kg-dir/x.bpf.o", NULL);
	ck_assert(libbpf_get_error(obj) != 0);
	out = slurp(stderr_path);
	ck_assert_msg(strncmp(out, "<4>libbpf: ", 11) == 0 || strncmp(out, "<7>libbpf: ", 11) == 0,
		      "%s", out);
	ck_assert_ptr_null(strstr(out, "\n\n"));

	/* At warn level libbpf's debug chatter is filtered before formatting. */
	capture_stderr();
	kg_log_set_level(LOG_ERR);
	obj = bpf_object__open_file("/nonexistent-kg-dir/x.bpf.o", NULL);
	ck_assert(libbpf_get_error(obj) != 0);
	ck_assert_str_eq(slurp(stderr_path), "");
}
END_TEST

/* While a load is captured, libbpf's warnings stay out of the log at info level (the service
 * logs one sentence instead) and reach the log at debug level only. */
START_TEST(test_libbpf_capture)
{
	struct kg_load_report report;
	struct bpf_object *obj;

	capture_stderr();
	kg_log_open("kgtest", LOG_INFO, NULL);
	kg_log_route_libbpf();
	kg_log_libbpf_capture(&report);
	obj = bpf_object__open_file("/nonexistent-kg-dir/x.bpf.o", NULL);
	ck_assert(libbpf_get_error(obj) != 0);
	ck_assert_str_eq(slurp(stderr_path), "");

	capture_stderr();
	kg_log_set_level(LOG_DEBUG);
	obj = bpf_object__open_file("/nonexistent-kg-dir/x.bpf.o", NULL);
	ck_assert(libbpf_get_error(obj) != 0);
	ck_assert_ptr_nonnull(strstr(slurp(stderr_path), "<7>libbpf: "));
	ck_assert_ptr_null(strstr(slurp(stderr_path), "<4>"));

	/* Captured no longer: warnings are warnings again. */
	kg_log_libbpf_capture(NULL);
	capture_stderr();
	obj = bpf_object__open_file("/nonexistent-kg-dir/x.bpf.o", NULL);
	ck_assert(libbpf_get_error(obj) != 0);
	ck_assert_ptr_nonnull(strstr(slurp(stderr_path), "<4>libbpf: "));
}
END_TEST

static void feed(struct kg_load_report *r, const char *const *lines)
{
	for (; *lines; lines++)
		kg_load_report_line(r, *lines);
}

/* What libbpf 1.1 printed on Debian 12's 6.1 kernel for the refused datapath (issue text),
 * split into lines as the bridge splits it. */
START_TEST(test_load_report_verifier)
{
	static const char *const lines[] = {
	    "libbpf: prog 'kg_connect4': BPF program load failed: Permission denied",
	    "libbpf: prog 'kg_connect4': -- BEGIN PROG LOAD LOG --",
	    "0: R1=ctx(off=0,imm=0) R10=fp0",
	    "; __builtin_memcpy(key.addr, &addr_be, 4);",
	    "124: (63) *(u32 *)(r10 -20) = r9",
	    "attempt to corrupt spilled pointer on stack",
	    "processed 96 insns (limit 1000000) max_states_per_insn 0 total_states 6 "
	    "peak_states 6 mark_read 3",
	    "-- END PROG LOAD LOG --",
	    "libbpf: prog 'kg_connect4': failed to load: -13",
	    "libbpf: failed to load object 'kg_bpf'",
	    "libbpf: failed to load BPF skeleton 'kg_bpf': -13",
	    NULL,
	};
	struct kg_load_report r;

	kg_load_report_reset(&r);
	feed(&r, lines);
	ck_assert_str_eq(r.prog, "kg_connect4");
	ck_assert_str_eq(r.error, "Permission denied");
	ck_assert_str_eq(r.reason, "attempt to corrupt spilled pointer on stack");
}
END_TEST

/* A program refused before the verifier ran (no capability): named, no reason invented. A log
 * cut at its end keeps the last partial line. Garbage and overlong lines are bounded. */
START_TEST(test_load_report_edges)
{
	static const char *const no_log[] = {
	    "libbpf: prog 'kg_getsockopt': BPF program load failed: Operation not permitted",
	    "libbpf: prog 'kg_getsockopt': failed to load: -1",
	    NULL,
	};
	static const char *const cut[] = {
	    "prog 'kg_sockops': BPF program load failed: Permission denied",
	    "prog 'kg_sockops': -- BEGIN PROG LOAD LOG --",
	    "R1 invalid mem access 'scalar'-- END PROG LOAD LOG --",
	    /* a later program's log does not replace the first one's reason */
	    "prog 'kg_connect6': BPF program load failed: Invalid argument",
	    "prog 'kg_connect6': -- BEGIN PROG LOAD LOG --",
	    "something else",
	    "-- END PROG LOAD LOG --",
	    NULL,
	};
	char big[4096];
	struct kg_load_report r;

	kg_load_report_reset(&r);
	feed(&r, no_log);
	ck_assert_str_eq(r.prog, "kg_getsockopt");
	ck_assert_str_eq(r.error, "Operation not permitted");
	ck_assert_str_eq(r.reason, "");

	kg_load_report_reset(&r);
	feed(&r, cut);
	ck_assert_str_eq(r.prog, "kg_sockops");
	ck_assert_str_eq(r.reason, "R1 invalid mem access 'scalar'");

	kg_load_report_reset(&r);
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "prog '", 6);
	kg_load_report_line(&r, big);
	kg_load_report_line(&r, "prog ");
	kg_load_report_line(&r, "prog 'x");
	kg_load_report_line(&r, "prog 'x':");
	kg_load_report_line(&r, "");
	ck_assert_str_eq(r.prog, "");
	memcpy(big, "prog 'p': BPF program load failed: ", 35);
	kg_load_report_line(&r, big);
	ck_assert_str_eq(r.prog, "p");
	ck_assert_uint_eq(strlen(r.error), sizeof(r.error) - 1);
	kg_load_report_line(&r, "prog 'p': -- BEGIN PROG LOAD LOG --");
	kg_load_report_line(&r, big + 35);
	ck_assert_uint_eq(strlen(r.reason), sizeof(r.reason) - 1);
}
END_TEST

START_TEST(test_ratelimit_window)
{
	struct kg_ratelimit rl = KG_RATELIMIT_INIT(1000, 3);
	uint64_t sup = 99, t;
	unsigned i, passed = 0;

	/* A burst, then everything dropped and counted until the interval ends. */
	for (i = 0; i < 3; i++)
		ck_assert(kg_ratelimit_pass(&rl, 5000 + i, &sup));
	ck_assert_uint_eq(sup, 0);
	for (t = 5003; t < 5999; t++)
		passed += kg_ratelimit_pass(&rl, t, &sup);
	ck_assert_uint_eq(passed, 0);
	ck_assert(kg_ratelimit_pass(&rl, 6000, &sup));
	ck_assert_uint_eq(sup, 996);
	ck_assert(kg_ratelimit_pass(&rl, 6001, &sup));
	ck_assert_uint_eq(sup, 0);
	/* The first call opens an interval whatever the clock says (0 included). */
	rl = (struct kg_ratelimit)KG_RATELIMIT_INIT(1000, 1);
	ck_assert(kg_ratelimit_pass(&rl, 0, &sup));
	ck_assert(!kg_ratelimit_pass(&rl, 999, &sup));
	ck_assert(kg_ratelimit_pass(&rl, 1000, &sup));
	ck_assert_uint_eq(sup, 1);
	/* A burst of 0 never passes and counts everything. */
	rl = (struct kg_ratelimit)KG_RATELIMIT_INIT(1000, 0);
	ck_assert(!kg_ratelimit_pass(&rl, 0, &sup));
	ck_assert_uint_eq(rl.suppressed, 1);
}
END_TEST

static unsigned count_lines(const char *text, const char *needle)
{
	unsigned n = 0;

	for (; (text = strstr(text, needle)); text++)
		n++;
	return n;
}

START_TEST(test_log_flood_limited)
{
	int i;

	capture_stderr();
	kg_log_open("t", LOG_INFO, NULL);
	for (i = 0; i < 5000; i++)
		log_warn_ratelimited("refusing peer %d", i);
	/* Below the level: nothing logged and no budget spent. */
	for (i = 0; i < 50; i++)
		log_fields_ratelimited(LOG_DEBUG, NULL, "debug %d", i);
	ck_assert_uint_eq(count_lines(slurp(stderr_path), "refusing peer"), KG_LOG_RATE_BURST);
	ck_assert_uint_eq(count_lines(slurp(stderr_path), "debug"), 0);
	ck_assert_uint_eq(count_lines(slurp(stderr_path), "suppressed"), 0);
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");

	tcase_add_unchecked_fixture(tc, make_tmp_dir, remove_tmp_dir);
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_level_from_string);
	tcase_add_test(tc, test_defaults_before_open);
	tcase_add_test(tc, test_level_filtering);
	tcase_add_test(tc, test_stderr_format);
	tcase_add_test(tc, test_errno_preserved);
	tcase_add_test(tc, test_truncation);
	tcase_add_test(tc, test_log_file);
	tcase_add_test(tc, test_log_file_open_failure);
	tcase_add_test(tc, test_log_file_write_failure);
	tcase_add_test(tc, test_journal_detection);
	tcase_add_test(tc, test_journal_no_duplicate);
	tcase_add_test(tc, test_libbpf_route);
	tcase_add_test(tc, test_libbpf_capture);
	tcase_add_test(tc, test_load_report_verifier);
	tcase_add_test(tc, test_load_report_edges);
	tcase_add_test(tc, test_ratelimit_window);
	tcase_add_test(tc, test_log_flood_limited);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(log_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
