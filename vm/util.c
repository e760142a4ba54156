/* What every vm(8) command and the test drivers share: errors and the tools'
 * paths (vm.h). */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vm.h"

int vm_err(const char *fmt, ...)
{
	va_list ap;

	fputs("vm: ERROR: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

const char *vm_tool(const char *name)
{
	static char path[PATH_MAX];
	char env[64], self[PATH_MAX], *slash;
	const char *v;
	ssize_t n;
	size_t i;

	/* VM_BHYVE, VM_GRUB_BHYVE, VM_BHYVECTL ... */
	snprintf(env, sizeof(env), "VM_%s", name);
	for (i = 3; env[i]; i++)
		env[i] = env[i] == '-' ? '_' : (char)(env[i] >= 'a' && env[i] <= 'z' ? env[i] - 32 : env[i]);
	if ((v = getenv(env)) != NULL && *v)
		return v;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash != NULL) {
			*slash = '\0';
			if ((size_t)snprintf(path, sizeof(path), "%s/%s", self, name) < sizeof(path) &&
			    access(path, X_OK) == 0)
				return path;
		}
	}
	return name;
}
