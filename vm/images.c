/* vm iso [URL], vm img [URL]: list the installation media in $vm_dir/.iso
 * (and iso datastores) or the disk images in $vm_dir/.img, or download one
 * there with libcurl. A compressed download (.xz, .gz, .zst, .bz2) is
 * unpacked and only the unpacked file kept. clone, snapshot and rollback
 * are in snapshot.c. */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vm.h"

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One "DATASTORE FILENAME" line per file in DIR, sorted, as vm-bhyve's
 * `ls -1 | awk` does (hidden files and downloads in progress left out). */
static void list_dir(const char *ds, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);

		if (e->d_name[0] == '.' || (len > 5 && strcmp(e->d_name + len - 5, ".part") == 0))
			continue;
		if (n == cap) {
			char **p = realloc(names, (cap = cap ? cap * 2 : 32) * sizeof(*names));
			if (p == NULL)
				break;
			names = p;
		}
		if ((names[n] = strdup(e->d_name)) != NULL)
			n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		printf("%-20s%s\n", ds, names[i]);
		free(names[i]);
	}
	free(names);
}

static void list_media(const struct vmhost *h, const char *sub, bool iso_stores)
{
	char dir[4200], key[128], list[4096], *save = NULL, *w;
	const char *spec;

	printf("%-20s%s\n", "DATASTORE", "FILENAME");
	snprintf(dir, sizeof(dir), "%s/%s", h->vm_dir, sub);
	list_dir("default", dir);
	if (!iso_stores)
		return;
	snprintf(list, sizeof(list), "%s", conf_get_def(h->sys, "datastore_list", ""));
	for (w = strtok_r(list, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (snprintf(key, sizeof(key), "path_%s", w) >= (int)sizeof(key))
			continue;
		spec = conf_get(h->sys, key);
		if (spec && strncmp(spec, "iso:", 4) == 0)
			list_dir(w, spec + 4);
	}
}

/* The file name a URL names: its last path element, without query or
 * fragment. -1 if there is none usable. */
static int url_file_name(const char *url, char *out, size_t n)
{
	const char *p = strstr(url, "://"), *slash, *end;
	size_t len;

	p = p ? p + 3 : url;
	end = p + strcspn(p, "?#");
	slash = NULL;
	for (const char *q = p; q < end; q++)
		if (*q == '/')
			slash = q;
	if (slash == NULL)
		return -1;
	len = (size_t)(end - slash - 1);
	if (len == 0 || len >= n)
		return -1;
	memcpy(out, slash + 1, len);
	out[len] = '\0';
	if (out[0] == '.' || strchr(out, '/'))
		return -1;
	return 0;
}

struct dl {
	int fd;
	int shown;		/* last tenth printed */
	curl_off_t last;	/* bytes at the last line when the size is unknown */
	bool err, tty;
	int werr;		/* errno of a failed write */
};

/* SIGINT, SIGTERM or SIGHUP during a download: it stops, and its partial
 * file is removed. */
static volatile sig_atomic_t dl_stop;

static void dl_signal(int sig)
{
	dl_stop = sig;
}

static size_t dl_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct dl *d = arg;
	size_t n = size * nmemb, done = 0;

	while (done < n) {
		ssize_t r = write(d->fd, p + done, n - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			d->err = true;
			d->werr = r < 0 ? errno : ENOSPC;
			return 0;
		}
		done += (size_t)r;
	}
	return n;
}

/* A line per 10% on a terminal (per 64 MiB when the size is unknown). */
static int dl_progress(void *arg, curl_off_t total, curl_off_t now, curl_off_t ut, curl_off_t un)
{
	struct dl *d = arg;

	(void)ut, (void)un;
	if (dl_stop)
		return 1;
	if (!d->tty)
		return 0;
	if (total > 0) {
		int tenth = (int)(now * 10 / total);
		if (tenth > d->shown) {
			d->shown = tenth;
			printf("  %3d%%  %.1f of %.1f MiB\n", tenth * 10, (double)now / 1048576.0,
			    (double)total / 1048576.0);
			fflush(stdout);
		}
	} else if (now - d->last >= 64 * 1048576) {
		d->last = now;
		printf("  %.1f MiB\n", (double)now / 1048576.0);
		fflush(stdout);
	}
	return 0;
}

static const char *compressed_suffix(const char *name)
{
	static const char *const sfx[] = { ".xz", ".gz", ".zst", ".zstd", ".bz2" };
	size_t n = strlen(name);

	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		size_t k = strlen(sfx[i]);
		if (n > k && strcmp(name + n - k, sfx[i]) == 0)
			return name + n - k;
	}
	return NULL;
}

/* Downloads URL into $vm_dir/SUB. */
static int download(const struct vmhost *h, const char *sub, const char *url)
{
	char name[256], dir[4200], part[4600], dst[4600], final[4600], errbuf[CURL_ERROR_SIZE] = "";
	const char *sfx;
	struct dl d = { .fd = -1 };
	struct sigaction sa = { .sa_handler = dl_signal }, old[3];
	static const int sigs[3] = { SIGINT, SIGTERM, SIGHUP };
	struct stat st;
	CURL *c;
	CURLcode cc;
	bool tty = isatty(1);

	if (url_file_name(url, name, sizeof(name)) != 0)
		return vm_err("cannot tell a file name from URL %s", url);
	snprintf(dir, sizeof(dir), "%s/%s", h->vm_dir, sub);
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return vm_err("%s is missing: run vm init", dir);
	snprintf(dst, sizeof(dst), "%s/%s", dir, name);
	snprintf(final, sizeof(final), "%s", dst);
	sfx = compressed_suffix(name);
	if (sfx)
		final[strlen(dir) + 1 + (size_t)(sfx - name)] = '\0';
	if (lstat(final, &st) == 0)
		return vm_err("%s already exists", final);
	snprintf(part, sizeof(part), "%s/.%s.part", dir, name);

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || (c = curl_easy_init()) == NULL)
		return vm_err("cannot start libcurl");
	if ((d.fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
		curl_easy_cleanup(c);
		return vm_err("cannot create %s: %s", part, strerror(errno));
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, dl_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &d);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "vm (bhyve for Linux)");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	/* a stalled transfer ends after a minute under 1 byte/s */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	d.tty = tty;
	if (tty)
		printf("%s -> %s\n", url, final);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, dl_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, &d);
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < 3; i++)
		sigaction(sigs[i], &sa, &old[i]);
	cc = curl_easy_perform(c);
	for (int i = 0; i < 3; i++)
		sigaction(sigs[i], &old[i], NULL);
	curl_easy_cleanup(c);
	if (close(d.fd) != 0 && cc == CURLE_OK && !d.err) {
		d.err = true;
		d.werr = errno;
	}
	if (cc != CURLE_OK || d.err || dl_stop) {
		unlink(part);
		if (dl_stop)
			return vm_err("download of %s interrupted (signal %d)", url, (int)dl_stop);
		if (d.err)
			return vm_err("cannot write %s: %s", part, strerror(d.werr));
		return vm_err("download of %s failed: %s", url, *errbuf ? errbuf : curl_easy_strerror(cc));
	}
	if (sfx && image_is_compressed(part)) {
		if (tty)
			printf("unpacking %s\n", name);
		if (image_unpack(part, final) != 0) {
			unlink(part);
			return 1;
		}
		unlink(part);
	} else if (rename(part, dst) != 0) {
		int e = errno;
		unlink(part);
		return vm_err("cannot rename %s to %s: %s", part, dst, strerror(e));
	}
	return 0;
}

static int media_cmd(struct vmhost *h, int argc, char **argv, const char *sub, bool iso)
{
	if (argc > 2 || (argc == 2 && argv[1][0] == '-'))
		return vm_err("usage: vm %s [url]", argv[0]);
	if (host_need_dir(h) != 0)
		return 1;
	if (argc == 1) {
		list_media(h, sub, iso);
		return 0;
	}
	return download(h, sub, argv[1]) == 0 ? 0 : 1;
}

int cmd_iso(struct vmhost *h, int argc, char **argv)
{
	return media_cmd(h, argc, argv, ".iso", true);
}

int cmd_img(struct vmhost *h, int argc, char **argv)
{
	return media_cmd(h, argc, argv, ".img", false);
}
