// SPDX-License-Identifier: GPL-2.0-only
/*
 * load, unload, status: the module through libkmod.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libkmod.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

#define MODNAME "shmstream"

/* The module by path, or by name as modprobe looks it up. */
static int ctl_module(struct kmod_ctx *ctx, const char *path, struct kmod_module **mod)
{
	struct kmod_list *list = NULL;
	int ret;

	if (path)
		return kmod_module_new_from_path(ctx, path, mod);
	ret = kmod_module_new_from_lookup(ctx, MODNAME, &list);
	if (ret < 0)
		return ret;
	if (!list) {
		/* Not installed: it may still be loaded (insmod from elsewhere). */
		return kmod_module_new_from_name(ctx, MODNAME, mod);
	}
	*mod = kmod_module_get_module(list);
	kmod_module_unref_list(list);
	return 0;
}

static bool ctl_module_live(struct kmod_module *mod)
{
	return kmod_module_get_initstate(mod) == KMOD_MODULE_LIVE;
}

int cmd_load(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "param", required_argument, NULL, 'p' },
		{ "path", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	char params[1024] = "";
	struct kmod_module *mod = NULL;
	struct kmod_ctx *ctx;
	const char *path = NULL;
	int c, ret, status = EXIT_OK;

	while ((c = getopt_long(argc, argv, "p:f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (!strchr(optarg, '=') || strchr(optarg, ' '))
				return ctl_usage("load", "--param takes KEY=VALUE, got '%s'", optarg);
			if (strlen(params) + strlen(optarg) + 2 > sizeof(params))
				return ctl_usage("load", "too many parameters");
			if (*params)
				strcat(params, " ");
			strcat(params, optarg);
			break;
		case 'f':
			path = optarg;
			break;
		case 'h':
			printf("Usage: shmstreamctl load [--param KEY=VALUE]... [--path FILE]\n\n"
			       "Load the shmstream module through libkmod: by name, as modprobe\n"
			       "looks it up (/lib/modules/$(uname -r)), or from FILE. Already\n"
			       "loaded is success. Parameters: max_pinned_mb,\n"
			       "max_user_pinned_mb, max_ns_pinned_mb, max_consumers,\n"
			       "max_user_consumers, max_holds, max_user_holds (see README.md,\n"
			       "\"Security model\").\n");
			return EXIT_OK;
		default:
			return ctl_usage("load", "bad option");
		}
	}
	if (optind != argc)
		return ctl_usage("load", "unexpected argument '%s'", argv[optind]);

	ctx = kmod_new(NULL, NULL);
	if (!ctx)
		return ctl_fail("load", "libkmod", -ENOMEM);
	ret = ctl_module(ctx, path, &mod);
	if (ret < 0) {
		status = ctl_fail("load", path ? path : MODNAME, ret);
		goto out;
	}
	if (ctl_module_live(mod)) {
		printf("%s is already loaded\n", MODNAME);
		goto out;
	}
	if (path)
		ret = kmod_module_insert_module(mod, 0, params);
	else if (!kmod_module_get_path(mod))
		ret = -ENOENT;
	else
		ret = kmod_module_probe_insert_module(mod, 0, params, NULL, NULL, NULL);
	if (ret == -EEXIST) {
		printf("%s is already loaded\n", MODNAME);
	} else if (ret < 0) {
		fprintf(stderr, "shmstreamctl load: %s: %s%s\n", path ? path : MODNAME,
			shmdev_strerror(ret),
			ret == -ENOENT && !path ? " (not installed for this kernel; use --path)" : "");
		status = EXIT_RUNTIME;
	} else {
		printf("loaded %s%s%s\n", path ? path : MODNAME, *params ? " with " : "", params);
	}
out:
	kmod_module_unref(mod);
	kmod_unref(ctx);
	return status;
}

int cmd_unload(int argc, char **argv)
{
	struct kmod_module *mod = NULL;
	struct kmod_ctx *ctx;
	int ret, status = EXIT_OK;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("Usage: shmstreamctl unload\n\nUnload the shmstream module. Refused while "
		       "any file of /dev/shmstream\nor mapping of a stream is open.\n");
		return EXIT_OK;
	}
	if (argc > 1)
		return ctl_usage("unload", "unexpected argument '%s'", argv[1]);
	ctx = kmod_new(NULL, NULL);
	if (!ctx)
		return ctl_fail("unload", "libkmod", -ENOMEM);
	ret = kmod_module_new_from_name(ctx, MODNAME, &mod);
	if (ret < 0) {
		status = ctl_fail("unload", MODNAME, ret);
	} else if (!ctl_module_live(mod)) {
		printf("%s is not loaded\n", MODNAME);
	} else {
		ret = kmod_module_remove_module(mod, 0);
		if (ret == -EAGAIN || ret == -EBUSY || ret == -EWOULDBLOCK) {
			fprintf(stderr, "shmstreamctl unload: %s is in use (%d users): close the "
				"programs using /dev/shmstream first\n", MODNAME,
				kmod_module_get_refcnt(mod));
			status = EXIT_RUNTIME;
		} else if (ret < 0) {
			status = ctl_fail("unload", MODNAME, ret);
		} else {
			printf("unloaded %s\n", MODNAME);
		}
	}
	kmod_module_unref(mod);
	kmod_unref(ctx);
	return status;
}

static void json_str(const char *key, const char *val, bool last)
{
	printf("  \"%s\": \"", key);
	for (; *val; val++)
		if (*val == '"' || *val == '\\')
			printf("\\%c", *val);
		else if ((unsigned char)*val >= 0x20)
			putchar(*val);
	printf("\"%s\n", last ? "" : ",");
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	char version[64] = "", params[512] = "", reason[256] = "ok";
	struct kmod_module *mod = NULL;
	struct shmdev *dev = NULL;
	struct kmod_ctx *ctx;
	bool json = false, live, exists, usable;
	int c, refcnt = -1;
	FILE *f;
	DIR *d;

	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		if (c == 'j') {
			json = true;
		} else if (c == 'h') {
			printf("Usage: shmstreamctl status [--json]\n\nModule state, refcount, "
			       "version and parameters, and whether\n/dev/shmstream exists and "
			       "is usable by the caller.\n");
			return EXIT_OK;
		} else {
			return ctl_usage("status", "bad option");
		}
	}
	if (optind != argc)
		return ctl_usage("status", "unexpected argument '%s'", argv[optind]);
	ctx = kmod_new(NULL, NULL);
	if (!ctx || kmod_module_new_from_name(ctx, MODNAME, &mod) < 0)
		return ctl_fail("status", "libkmod", -ENOMEM);
	live = ctl_module_live(mod);
	if (live)
		refcnt = kmod_module_get_refcnt(mod);
	f = fopen("/sys/module/" MODNAME "/version", "r");
	if (f) {
		if (fgets(version, sizeof(version), f))
			version[strcspn(version, "\n")] = 0;
		fclose(f);
	}
	d = opendir("/sys/module/" MODNAME "/parameters");
	for (struct dirent *e; d && (e = readdir(d));) {
		char path[300], val[64] = "";

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/module/" MODNAME "/parameters/%s", e->d_name);
		f = fopen(path, "r");
		if (f) {
			if (fgets(val, sizeof(val), f))
				val[strcspn(val, "\n")] = 0;
			fclose(f);
		}
		snprintf(params + strlen(params), sizeof(params) - strlen(params), "%s%s=%s",
			 *params ? " " : "", e->d_name, val);
	}
	if (d)
		closedir(d);
	exists = access(SHMDEV_DEFAULT_PATH, F_OK) == 0;
	usable = exists && shmdev_open(&dev) == 0;
	if (!usable)
		snprintf(reason, sizeof(reason), "%s", !exists ? "no device node" :
			 *shmdev_errmsg() ? shmdev_errmsg() : "cannot open");
	shmdev_unref(dev);

	if (json) {
		printf("{\n  \"module\": \"%s\",\n  \"loaded\": %s,\n  \"refcount\": %d,\n",
		       MODNAME, live ? "true" : "false", refcnt);
		json_str("version", version, false);
		json_str("parameters", params, false);
		printf("  \"device\": \"%s\",\n  \"device_exists\": %s,\n  \"usable\": %s,\n",
		       SHMDEV_DEFAULT_PATH, exists ? "true" : "false", usable ? "true" : "false");
		json_str("reason", reason, true);
		printf("}\n");
	} else {
		printf("module:     %s %s\n", MODNAME, live ? "loaded" : "not loaded");
		if (live)
			printf("version:    %s\nrefcount:   %d\nparameters: %s\n", version,
			       refcnt, params);
		printf("device:     %s %s, %s\n", SHMDEV_DEFAULT_PATH,
		       exists ? "exists" : "missing", usable ? "usable" : reason);
	}
	kmod_module_unref(mod);
	kmod_unref(ctx);
	return EXIT_OK;
}
