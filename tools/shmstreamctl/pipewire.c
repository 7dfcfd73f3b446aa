// SPDX-License-Identifier: GPL-2.0-only
/*
 * pipewire: publish a stream as a PipeWire Video/Source node, for apps
 * that reach cameras through PipeWire (browsers and OBS through the camera
 * portal). No PipeWire code here: the command runs the GStreamer pipeline
 *
 *   gst-launch-1.0 -q shmstreamsrc stream=NAME eos-on-detach=true !
 *       pipewiresink mode=provide stream-properties="props,node.name=...,..."
 *
 * so that the node has the stream's format and size (shmstreamsrc's caps
 * come from the frames) and goes away with the stream's producer (EOS).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

#define PW_MAX_ARGS 32

/* A node name, format or caps field: letters, digits and ._- only. */
static bool pw_plain(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
			return false;
	return true;
}

/* @s in double quotes, " and \ escaped: a GstStructure's and gst-launch's. */
static char *pw_quote(const char *s)
{
	char *out = malloc(strlen(s) * 2 + 3), *p = out;

	if (!out)
		return NULL;
	*p++ = '"';
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			*p++ = '\\';
		*p++ = *s;
	}
	*p++ = '"';
	*p = '\0';
	return out;
}

/* One argument as a shell reads it back: single quotes where needed. */
static void pw_print_arg(const char *a)
{
	if (!a[strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
		       "._-=,/:+!")]) {
		fputs(a, stdout);
		return;
	}
	putchar('\'');
	for (; *a; a++) {
		if (*a == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*a);
	}
	putchar('\'');
}

int cmd_pipewire(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "node-name", required_argument, NULL, 'N' },
		{ "description", required_argument, NULL, 'd' },
		{ "format", required_argument, NULL, 'f' },
		{ "fps", required_argument, NULL, 'r' },
		{ "print", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *node = NULL, *desc = NULL, *format = NULL, *name;
	char *args[PW_MAX_ARGS], *alloc[5] = { NULL }, *qdesc = NULL, *props = NULL, *qprops = NULL;
	uint32_t fps = 0;
	bool print = false;
	int c, n = 0, ret = EXIT_RUNTIME;

	while ((c = getopt_long(argc, argv, "N:d:f:r:ph", opts, NULL)) != -1) {
		switch (c) {
		case 'N':
			if (!pw_plain(optarg))
				return ctl_usage("pipewire", "bad --node-name '%s' (letters, digits, "
					       "'.', '_', '-')", optarg);
			node = optarg;
			break;
		case 'd':
			desc = optarg;
			break;
		case 'f':
			if (!pw_plain(optarg))
				return ctl_usage("pipewire", "bad --format '%s'", optarg);
			format = optarg;
			break;
		case 'r':
			if (ctl_parse_u32(optarg, &fps) || fps > 1000)
				return ctl_usage("pipewire", "bad --fps '%s'", optarg);
			break;
		case 'p':
			print = true;
			break;
		case 'h':
			printf("Usage: shmstreamctl pipewire NAME [--node-name NODE] "
			       "[--description TEXT]\n"
			       "                            [--format FORMAT] [--fps N] "
			       "[--print]\n\n"
			       "Publish stream NAME as a PipeWire Video/Source node (media.role "
			       "Camera,\nwhich the camera portal offers to browsers and OBS), "
			       "with the stream's\nformat and size, until the stream's producer "
			       "detaches (the node goes\nwith it). Waits for the stream to "
			       "appear. It runs gst-launch-1.0:\n"
			       "  shmstreamsrc stream=NAME eos-on-detach=true ! pipewiresink "
			       "mode=provide ...\n"
			       "which needs gstreamer1.0-tools, gstreamer1.0-pipewire, the "
			       "shmstream\nplugin (gstreamer1.0-shmstream, or GST_PLUGIN_PATH) "
			       "and a PipeWire daemon.\n\n"
			       "  --node-name NODE    node.name (default shmstream.NAME)\n"
			       "  --description TEXT  node.description, the name apps show\n"
			       "                      (default \"shmstream NAME\")\n"
			       "  --format FORMAT     convert to this GStreamer format first "
			       "(videoconvert),\n"
			       "                      e.g. YUY2, NV12 or I420 for apps that want "
			       "one\n"
			       "  --fps N             frame rate to announce (default 0: "
			       "variable)\n"
			       "  --print             print the command instead of running it\n");
			return EXIT_OK;
		default:
			return ctl_usage("pipewire", "bad option");
		}
	}
	if (optind + 1 != argc)
		return ctl_usage("pipewire", "need a stream NAME");
	name = argv[optind];
	if (!pw_plain(name) || strlen(name) > 63)
		return ctl_usage("pipewire", "bad stream name '%s'", name);

	if (asprintf(&alloc[0], "stream=%s", name) < 0)
		goto out_nomem;
	if (!desc && asprintf(&alloc[1], "shmstream %s", name) < 0)
		goto out_nomem;
	/*
	 * Quoted twice: the description inside the structure, then the whole
	 * structure as gst-launch's parser reads a value (it splits an
	 * unquoted one at spaces, even those inside the structure's quotes).
	 */
	qdesc = pw_quote(desc ? desc : alloc[1]);
	if (!qdesc)
		goto out_nomem;
	if (asprintf(&props, "props,node.name=%s%s,node.description=(string)%s,"
		     "media.class=Video/Source,media.role=Camera", node ? "" : "shmstream.",
		     node ? node : name, qdesc) < 0) {
		props = NULL;
		goto out_nomem;
	}
	qprops = pw_quote(props);
	if (!qprops || asprintf(&alloc[2], "stream-properties=%s", qprops) < 0)
		goto out_nomem;
	if (fps && asprintf(&alloc[3], "framerate=%u/1", fps) < 0)
		goto out_nomem;
	if (format && asprintf(&alloc[4], "video/x-raw,format=%s", format) < 0)
		goto out_nomem;

	args[n++] = "gst-launch-1.0";
	args[n++] = "-q";
	args[n++] = "shmstreamsrc";
	args[n++] = alloc[0];
	args[n++] = "eos-on-detach=true";
	if (fps)
		args[n++] = alloc[3];
	args[n++] = "!";
	if (format) {
		args[n++] = "videoconvert";
		args[n++] = "!";
		args[n++] = alloc[4];
		args[n++] = "!";
	}
	args[n++] = "pipewiresink";
	args[n++] = "mode=provide";
	args[n++] = "client-name=shmstreamctl";
	/* Frames come when the producer commits them: no waiting on the clock. */
	args[n++] = "sync=false";
	args[n++] = alloc[2];
	args[n] = NULL;

	if (print) {
		for (int i = 0; i < n; i++) {
			if (i)
				putchar(' ');
			pw_print_arg(args[i]);
		}
		putchar('\n');
		ret = EXIT_OK;
		goto out;
	}
	fflush(stdout);
	execvp(args[0], args);
	ret = -errno;
	fprintf(stderr, "shmstreamctl pipewire: %s: %s%s\n", args[0], strerror(-ret),
		ret == -ENOENT ? " (it is in Debian's gstreamer1.0-tools)" : "");
	ret = EXIT_RUNTIME;
	goto out;

out_nomem:
	ctl_fail("pipewire", name, -ENOMEM);
out:
	for (size_t i = 0; i < sizeof(alloc) / sizeof(alloc[0]); i++)
		free(alloc[i]);
	free(qdesc);
	free(props);
	free(qprops);
	return ret;
}
