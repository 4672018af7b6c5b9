// argvprobe prints its argv as one JSON array on stdout, so that tests can see exactly which arguments a
// program received: how many, and every byte of each. Bytes below 0x20, '"', '\\' and DEL are escaped;
// other bytes are copied as they are (valid UTF-8 in, valid JSON out). It is compiled by the tests with
// gcc -static and bound into the sandbox; it needs nothing there.
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char buf[1 << 16];
static size_t used;

static void flush(void) {
	size_t off = 0;
	while (off < used) {
		ssize_t n = write(1, buf + off, used - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(1);
		off += (size_t)n;
	}
	used = 0;
}

static void put(const char *s, size_t n) {
	for (size_t i = 0; i < n; i++) {
		if (used == sizeof buf)
			flush();
		buf[used++] = s[i];
	}
}

static void put_string(const char *s) {
	put("\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[8];
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			put(esc, 2);
		} else if (*p < 0x20 || *p == 0x7f) {
			snprintf(esc, sizeof esc, "\\u%04x", *p);
			put(esc, 6);
		} else {
			put((const char *)p, 1);
		}
	}
	put("\"", 1);
}

int main(int argc, char **argv) {
	put("[", 1);
	for (int i = 0; i < argc; i++) {
		if (i > 0)
			put(",", 1);
		put_string(argv[i]);
	}
	put("]\n", 2);
	flush();
	return 0;
}
