/* Reading the configuration file from disk for kg_config_parse() (config.c): a bounded read of a
 * regular file that refuses what libconfig would misread, and the defaults when the default path
 * does not exist.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/config.h"
#include "shared/config_priv.h"
#include "shared/config_scan.h"
#include "shared/macro.h"

/* The whole file in one NUL-terminated buffer, refusing anything that is not a regular file of
 * at most KG_CONFIG_MAX_SIZE bytes without NUL bytes (libconfig would stop reading there). */
static int read_config_file(const char *path, char **ret, char *err, size_t errlen)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	const char *nul;
	size_t len = 0;
	struct stat st;

	/* O_NONBLOCK: opening a FIFO must not hang the service; read() of a file ignores it. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0)
		return kg_config_set_error(err, errlen, -errno, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return kg_config_set_error(err, errlen, -EINVAL, "%s: not a regular file", path);
	if (st.st_size > KG_CONFIG_MAX_SIZE)
		return kg_config_set_error(err, errlen, -EFBIG, "%s: larger than 1 MiB", path);

	buf = malloc(KG_CONFIG_MAX_SIZE + 2);
	if (!buf)
		return kg_config_set_error(err, errlen, -ENOMEM, "%s: out of memory", path);
	/* Read one byte past the limit: the file may have grown since fstat(). */
	while (len <= KG_CONFIG_MAX_SIZE) {
		ssize_t n = read(fd, buf + len, KG_CONFIG_MAX_SIZE + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kg_config_set_error(err, errlen, -errno, "%s: %s", path,
						   strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > KG_CONFIG_MAX_SIZE)
		return kg_config_set_error(err, errlen, -EFBIG, "%s: larger than 1 MiB", path);
	nul = memchr(buf, '\0', len);
	if (nul) {
		unsigned line = 1;
		const char *p;

		for (p = buf; p < nul; p++)
			line += *p == '\n';
		return kg_config_set_error(err, errlen, -EINVAL,
					   "%s:%u: NUL byte (not a text file?)", path, line);
	}
	buf[len] = '\0';
	*ret = buf;
	buf = NULL;
	return 0;
}

int kg_config_load(struct kg_config *cfg, const char *path, kg_config_warn_fn warn_fn,
		   void *userdata, char *err, size_t errlen)
{
	_cleanup_free_ char *text = NULL;
	int r;

	if ((r = read_config_file(path, &text, err, errlen)) < 0)
		return r;
	return kg_config_parse(cfg, text, path, warn_fn, userdata, err, errlen);
}

int kg_config_load_or_defaults(struct kg_config *cfg, const char *path, bool explicit_path,
			       kg_config_warn_fn warn_fn, void *userdata, char *err, size_t errlen)
{
	int r = kg_config_load(cfg, path, warn_fn, userdata, err, errlen);

	if (r != -ENOENT || explicit_path)
		return r;
	kg_config_defaults(cfg);
	kg_config_set_error(err, errlen, 0, "%s", "");
	return KG_CONFIG_DEFAULTS;
}
