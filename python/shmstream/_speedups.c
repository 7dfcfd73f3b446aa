// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * shmstream._speedups: the per-frame copies of the Python package in one call
 * each, optional (built by make python-build against Python's headers; the
 * package falls back to ctypes without it, python/shmstream/_stream.py).
 *
 * copy_frame() acquires a frame, copies it into a buffer the caller made
 * before the wait and releases it; write_frame() takes a slot, copies a
 * buffer in and commits it. Each is what the ctypes path does in three calls
 * and a NumPy copy, with no Python object made between the reader's wake-up
 * and the copy: under emulation every one of them costs. acquire_frame()
 * is Stream.acquire() whole, the Frame made here, most of it before the
 * wait (no ctypes struct, no Python __init__); release() and commit() are
 * the ctypes calls of Frame.release() and Slot.commit() without ctypes'
 * argument and result conversions; write_fd() is the pyshmem layer's
 * write(2) of an array taken as it is, its checks made on the buffer
 * (typed_buffer()), and write_frame() with a format and shape the same into
 * a slot, for the layer's large frames.
 *
 * libshmdev's functions come from the library the package loaded with ctypes
 * (bind(): their addresses), so both paths use the one library, its handles
 * and its ABI check, and this module needs neither libshmdev nor NumPy to
 * build or load.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <shmdev.h>

/*
 * The module's API, its constant API: bumped whenever a function's
 * arguments or results change. The package uses the extension only when
 * this is its own _lib.SPEEDUPS_API, so an extension left from an older
 * tree falls back to ctypes instead of failing on every call.
 */
#define SPEEDUPS_API 2

typedef int (*acquire_fn)(struct shmdev_stream *, enum shmdev_mode, int64_t,
			  struct shmdev_frame *);
typedef int (*release_fn)(struct shmdev_stream *, const struct shmdev_frame *);
typedef int (*begin_fn)(struct shmdev_stream *, int64_t, struct shmdev_slot *);
typedef int (*commit_fn)(struct shmdev_stream *, const struct shmdev_slot *,
			 struct shmdev_commit_params *);
typedef int (*discard_fn)(struct shmdev_stream *, const struct shmdev_slot *);

static struct {
	acquire_fn acquire;
	release_fn release;
	begin_fn begin;
	commit_fn commit;
	discard_fn discard;
} fns;

static void *as_ptr(PyObject *o)
{
	void *p = PyLong_AsVoidPtr(o);

	if (!p && !PyErr_Occurred())
		PyErr_SetString(PyExc_ValueError, "shmstream._speedups: a NULL pointer");
	return p;
}

static PyObject *bind(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	void *p[5];
	Py_ssize_t i;

	(void)self;
	if (nargs != 5) {
		PyErr_SetString(PyExc_TypeError,
				"bind(acquire, release, begin, commit, discard): 5 addresses");
		return NULL;
	}
	for (i = 0; i < 5; i++) {
		p[i] = as_ptr(args[i]);
		if (!p[i])
			return NULL;
	}
	/* Function pointers from object pointers: POSIX (dlsym) guarantees it. */
	memcpy(&fns.acquire, &p[0], sizeof(p[0]));
	memcpy(&fns.release, &p[1], sizeof(p[1]));
	memcpy(&fns.begin, &p[2], sizeof(p[2]));
	memcpy(&fns.commit, &p[3], sizeof(p[3]));
	memcpy(&fns.discard, &p[4], sizeof(p[4]));
	Py_RETURN_NONE;
}

static int bound(void)
{
	if (fns.acquire)
		return 1;
	PyErr_SetString(PyExc_RuntimeError, "shmstream._speedups: bind() first");
	return 0;
}

/*
 * The stream in args[0] of @name(), which takes @want arguments, once
 * bind() has run; NULL with an exception set otherwise.
 */
static struct shmdev_stream *stream_arg(PyObject *const *args, Py_ssize_t nargs,
					Py_ssize_t want, const char *name)
{
	if (nargs != want) {
		PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments", name, want);
		return NULL;
	}
	if (!bound())
		return NULL;
	return as_ptr(args[0]);
}

/*
 * @o's C-contiguous buffer (@flags: PyBUF_WRITABLE or 0), which must be one
 * struct of @size bytes; @what says otherwise. 0, or -1 with an exception
 * set and nothing held.
 */
static int struct_arg(PyObject *o, Py_buffer *b, int flags, size_t size, const char *what)
{
	if (PyObject_GetBuffer(o, b, flags | PyBUF_C_CONTIGUOUS))
		return -1;
	if (b->len == (Py_ssize_t)size)
		return 0;
	PyBuffer_Release(b);
	PyErr_SetString(PyExc_ValueError, what);
	return -1;
}

/*
 * copy_frame(stream, mode, timeout_ns, raw, out, fourcc, width, height, stride)
 *
 * Acquire a frame (mode: SHMDEV_NEXT or SHMDEV_LATEST) into raw, a writable
 * buffer of sizeof(struct shmdev_frame) (a ctypes shmdev_frame). When the
 * frame has exactly out's size in bytes and this format, copy it into out (a
 * writable contiguous buffer) and release it: returns its seq (> 0). Any
 * other frame stays held, described in raw, for the caller: returns 0.
 * A negative errno when the acquire fails (nothing held).
 */
static PyObject *copy_frame(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	struct shmstream_format want;
	struct shmdev_frame *f;
	struct shmdev_stream *s;
	Py_buffer raw, out;
	long long timeout;
	unsigned long v[4];
	long mode;
	int ret, i;

	(void)self;
	s = stream_arg(args, nargs, 9, "copy_frame");
	if (!s)
		return NULL;
	mode = PyLong_AsLong(args[1]);
	timeout = PyLong_AsLongLong(args[2]);
	for (i = 0; i < 4; i++)
		v[i] = PyLong_AsUnsignedLong(args[5 + i]);
	if (PyErr_Occurred())
		return NULL;
	want = (struct shmstream_format){ .fourcc = (uint32_t)v[0], .width = (uint32_t)v[1],
					  .height = (uint32_t)v[2], .stride = (uint32_t)v[3] };
	if (struct_arg(args[3], &raw, PyBUF_WRITABLE, sizeof(*f),
		       "raw is not a struct shmdev_frame"))
		return NULL;
	if (PyObject_GetBuffer(args[4], &out, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS)) {
		PyBuffer_Release(&raw);
		return NULL;
	}
	f = raw.buf;
	Py_BEGIN_ALLOW_THREADS
	ret = fns.acquire(s, (enum shmdev_mode)mode, (int64_t)timeout, f);
	if (!ret && f->len == (size_t)out.len && f->format.fourcc == want.fourcc &&
	    f->format.width == want.width && f->format.height == want.height &&
	    f->format.stride == want.stride) {
		if (f->len)
			memcpy(out.buf, f->data, f->len);
		ret = fns.release(s, f);
		if (!ret)
			ret = 1;
	}
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&out);
	PyBuffer_Release(&raw);
	if (ret == 1)
		return PyLong_FromUnsignedLongLong(f->seq);
	return PyLong_FromLong(ret);
}

/*
 * @o's C-contiguous buffer, when it has the buffer format @fmt (struct
 * module syntax, as memoryview.format gives it) and the shape @shape (a
 * tuple of ints): the checks of an array of a stream's dtype and shape,
 * made on the buffer, not on NumPy attributes. 1 with @b held; 0, nothing
 * held, when @o is not such a buffer (the caller converts it); -1 with an
 * exception set.
 */
static int typed_buffer(PyObject *o, PyObject *fmt, PyObject *shape, Py_buffer *b)
{
	const char *want;
	Py_ssize_t i, n;

	if (!PyTuple_Check(shape)) {
		PyErr_SetString(PyExc_TypeError, "shape is not a tuple");
		return -1;
	}
	want = PyUnicode_AsUTF8(fmt);
	if (!want)
		return -1;
	if (PyObject_GetBuffer(o, b, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)) {
		PyErr_Clear(); /* not a contiguous buffer */
		return 0;
	}
	n = PyTuple_GET_SIZE(shape);
	if (!b->format || strcmp(b->format, want) || b->ndim != n)
		goto other;
	for (i = 0; i < n; i++) {
		Py_ssize_t dim = PyLong_AsSsize_t(PyTuple_GET_ITEM(shape, i));

		if (dim == -1 && PyErr_Occurred()) {
			PyBuffer_Release(b);
			return -1;
		}
		if (b->shape[i] != dim)
			goto other;
	}
	return 1;
other:
	PyBuffer_Release(b);
	return 0;
}

/*
 * write_frame(stream, timeout_ns, src[, format, shape]): take a free slot
 * (waiting up to timeout_ns, SHMDEV_FOREVER for ever), copy src (a
 * contiguous buffer of at most the slot's size) into it and commit it.
 * Returns the frame's seq, or a negative errno (-EMSGSIZE when src does not
 * fit; the slot is then given back uncommitted). With format and shape
 * (typed_buffer()), None and nothing written when src is not a buffer of
 * that format and shape.
 */
static PyObject *write_frame(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	struct shmdev_commit_params p = { 0 };
	struct shmdev_stream *s;
	struct shmdev_slot slot;
	long long timeout;
	Py_buffer src;
	int ret;

	(void)self;
	if (nargs != 3 && nargs != 5) {
		PyErr_SetString(PyExc_TypeError,
				"write_frame(stream, timeout_ns, src[, format, shape])");
		return NULL;
	}
	s = stream_arg(args, 3, 3, "write_frame");
	if (!s)
		return NULL;
	timeout = PyLong_AsLongLong(args[1]);
	if (PyErr_Occurred())
		return NULL;
	if (nargs == 5) {
		ret = typed_buffer(args[2], args[3], args[4], &src);
		if (ret <= 0) {
			if (ret < 0)
				return NULL;
			Py_RETURN_NONE;
		}
	} else if (PyObject_GetBuffer(args[2], &src, PyBUF_C_CONTIGUOUS)) {
		return NULL;
	}
	if ((size_t)src.len > UINT32_MAX) {
		PyBuffer_Release(&src);
		return PyLong_FromLong(-EMSGSIZE);
	}
	p.bytes = (uint32_t)src.len;
	Py_BEGIN_ALLOW_THREADS
	ret = fns.begin(s, (int64_t)timeout, &slot);
	if (!ret) {
		if ((size_t)src.len > slot.size) {
			fns.discard(s, &slot);
			ret = -EMSGSIZE;
		} else {
			if (src.len)
				memcpy(slot.data, src.buf, (size_t)src.len);
			ret = fns.commit(s, &slot, &p);
			if (ret)
				fns.discard(s, &slot);
		}
	}
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&src);
	if (!ret)
		return PyLong_FromUnsignedLongLong(p.seq);
	return PyLong_FromLong(ret);
}

/*
 * Frame's attributes (Frame.__init__'s) that acquire_frame() sets, interned
 * once: those before A_FIELDS before the wait, _raw None (a Frame released:
 * its release() and its collection do nothing); once the frame is held, the
 * descriptor's fields and the layout, then _raw.
 */
enum {
	A_STREAM, A_HANDLE, A_DESC, A_ARRAY, A_META, A_FIELDS,
	A_ADDRESS = A_FIELDS, A_NBYTES, A_SEQ, A_TIMESTAMP, A_MISSED, A_SLOT,
	A_FLAGS, A_FMT, A_META_LEN, A_SHAPE, A_DTYPE, A_STRIDES, A_RAW, A_COUNT
};

static const char *const attr_names[A_COUNT] = {
	"_stream", "_handle", "_desc", "_array", "_meta", "address", "nbytes",
	"seq", "timestamp_ns", "missed", "slot", "flags", "_fmt", "_meta_len",
	"shape", "dtype", "strides", "_raw",
};

static PyObject *attrs[A_COUNT];
static PyObject *no_args; /* () */

static PyObject *newref(PyObject *o)
{
	Py_INCREF(o);
	return o;
}

/*
 * @obj's attributes @from to @to - 1 from @vals (new references, stolen;
 * NULL: failed to make). 0, or -1 with an exception set.
 */
static int set_attrs(PyObject *obj, PyObject **vals, int from, int to)
{
	int i, ret = 0;

	for (i = from; i < to; i++) {
		if (!vals[i] || (!ret && PyObject_SetAttr(obj, attrs[i], vals[i])))
			ret = -1;
		Py_XDECREF(vals[i]);
	}
	return ret;
}

/*
 * acquire_frame(stream, mode, timeout_ns, cls, owner, handle, frames,
 *               own_nbytes, own_fmt, layout)
 *
 * Stream.acquire() in one call. Before the wait: an instance of cls (Frame,
 * made without __init__), owner the Stream and handle its handle, and a
 * bytearray for the struct shmdev_frame (its _desc). Then shmdev_acquire()
 * into that bytearray, the GIL released while it waits; once it holds the
 * frame, the descriptor's fields as Frame.__init__ sets them. A frame of
 * own_nbytes (None: the stream has no frame size of its own) in own_fmt
 * (fourcc, width, height, stride) takes the stream's layout (shape, dtype,
 * strides); any other frame has shape None, for the caller to work out.
 * frames[id(frame)] = a weak reference to it.
 * Returns the frame, or a negative errno from the acquire (nothing held).
 * When the frame cannot be made once the acquire succeeded, the frame is
 * released before the exception goes up.
 */
static PyObject *acquire_frame(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	PyObject *raw, *obj = NULL, *key = NULL, *ref = NULL;
	PyObject *vals[A_COUNT];
	struct shmdev_frame *f;
	struct shmdev_stream *s;
	unsigned long own[5];
	long long timeout;
	int i, ret, same, held = 0;
	long mode;

	(void)self;
	s = stream_arg(args, nargs, 10, "acquire_frame");
	if (!s)
		return NULL;
	if (!PyType_Check(args[3]) || !PyDict_Check(args[6]) ||
	    !PyTuple_Check(args[8]) || PyTuple_GET_SIZE(args[8]) != 4 ||
	    !PyTuple_Check(args[9]) || PyTuple_GET_SIZE(args[9]) != 3) {
		PyErr_SetString(PyExc_TypeError,
				"acquire_frame(stream, mode, timeout_ns, cls, owner, handle, "
				"frames: dict, own_nbytes, own_fmt: 4-tuple, layout: 3-tuple)");
		return NULL;
	}
	mode = PyLong_AsLong(args[1]);
	timeout = PyLong_AsLongLong(args[2]);
	own[0] = args[7] == Py_None ? 0 : PyLong_AsUnsignedLong(args[7]);
	for (i = 0; i < 4; i++)
		own[i + 1] = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(args[8], i));
	if (PyErr_Occurred())
		return NULL;
	raw = PyByteArray_FromStringAndSize(NULL, sizeof(*f));
	if (!raw)
		return NULL;
	f = (struct shmdev_frame *)PyByteArray_AS_STRING(raw);
	obj = PyBaseObject_Type.tp_new((PyTypeObject *)args[3], no_args, NULL);
	if (!obj)
		goto fail;
	vals[A_STREAM] = newref(args[4]);
	vals[A_HANDLE] = newref(args[5]);
	vals[A_DESC] = newref(raw);
	vals[A_ARRAY] = newref(Py_None);
	vals[A_META] = newref(Py_None);
	vals[A_RAW] = newref(Py_None);
	if (set_attrs(obj, vals, A_STREAM, A_FIELDS) ||
	    set_attrs(obj, vals, A_RAW, A_COUNT))
		goto fail;
	key = PyLong_FromVoidPtr(obj);
	ref = key ? PyWeakref_NewRef(obj, NULL) : NULL;
	if (!ref)
		goto fail;

	Py_BEGIN_ALLOW_THREADS
	ret = fns.acquire(s, (enum shmdev_mode)mode, (int64_t)timeout, f);
	Py_END_ALLOW_THREADS
	if (ret) {
		Py_DECREF(key);
		Py_DECREF(ref);
		Py_DECREF(obj);
		Py_DECREF(raw);
		return PyLong_FromLong(ret);
	}
	held = 1;
	vals[A_ADDRESS] = PyLong_FromUnsignedLongLong((uintptr_t)f->data);
	vals[A_NBYTES] = PyLong_FromSize_t(f->len);
	vals[A_SEQ] = PyLong_FromUnsignedLongLong(f->seq);
	vals[A_TIMESTAMP] = PyLong_FromUnsignedLongLong(f->timestamp_ns);
	vals[A_MISSED] = PyLong_FromUnsignedLongLong(f->missed);
	vals[A_SLOT] = PyLong_FromUnsignedLong(f->slot);
	vals[A_FLAGS] = PyLong_FromUnsignedLong(f->frame_flags);
	vals[A_FMT] = Py_BuildValue("(IIII)", f->format.fourcc, f->format.width,
				    f->format.height, f->format.stride);
	vals[A_META_LEN] = PyLong_FromUnsignedLong(f->meta_len);
	same = args[7] != Py_None && f->len == own[0] && f->format.fourcc == own[1] &&
	       f->format.width == own[2] && f->format.height == own[3] &&
	       f->format.stride == own[4];
	for (i = 0; i < 3; i++)
		vals[A_SHAPE + i] = newref(same ? PyTuple_GET_ITEM(args[9], i) : Py_None);
	vals[A_RAW] = newref(raw);
	if (set_attrs(obj, vals, A_FIELDS, A_COUNT))
		goto fail;
	held = 0; /* the Frame's now: its release() gives it back */
	if (PyDict_SetItem(args[6], key, ref)) {
		PyObject *type, *value, *tb, *ret2;

		PyErr_Fetch(&type, &value, &tb);
		ret2 = PyObject_CallMethod(obj, "release", NULL);
		Py_XDECREF(ret2);
		PyErr_Clear();
		PyErr_Restore(type, value, tb);
		goto fail;
	}
	Py_DECREF(key);
	Py_DECREF(ref);
	Py_DECREF(raw);
	return obj;
fail:
	if (held)
		fns.release(s, f);
	Py_XDECREF(key);
	Py_XDECREF(ref);
	Py_XDECREF(obj);
	Py_DECREF(raw);
	return NULL;
}

/* release(stream, raw): shmdev_release() of a frame acquire_frame() made. */
static PyObject *release(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	struct shmdev_stream *s;
	Py_buffer raw;
	int ret;

	(void)self;
	s = stream_arg(args, nargs, 2, "release");
	if (!s)
		return NULL;
	if (struct_arg(args[1], &raw, 0, sizeof(struct shmdev_frame),
		       "raw is not a struct shmdev_frame"))
		return NULL;
	ret = fns.release(s, raw.buf);
	PyBuffer_Release(&raw);
	return PyLong_FromLong(ret);
}

/*
 * commit(stream, slot, nbytes, timestamp_ns): commit the slot (a struct
 * shmdev_slot buffer, from shmdev_begin()) as a frame of nbytes in the
 * stream's format, with no metadata; timestamp_ns 0: taken at commit.
 * Returns the frame's seq, or a negative errno (the slot stays taken).
 */
static PyObject *commit(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	struct shmdev_commit_params p = { 0 };
	struct shmdev_stream *s;
	unsigned long nbytes;
	Py_buffer slot;
	int ret;

	(void)self;
	s = stream_arg(args, nargs, 4, "commit");
	if (!s)
		return NULL;
	nbytes = PyLong_AsUnsignedLong(args[2]);
	p.timestamp_ns = PyLong_AsUnsignedLongLong(args[3]);
	if (PyErr_Occurred())
		return NULL;
	if (nbytes > UINT32_MAX)
		return PyLong_FromLong(-EMSGSIZE);
	p.bytes = (uint32_t)nbytes;
	if (struct_arg(args[1], &slot, 0, sizeof(struct shmdev_slot),
		       "slot is not a struct shmdev_slot"))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	ret = fns.commit(s, slot.buf, &p);
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&slot);
	if (!ret)
		return PyLong_FromUnsignedLongLong(p.seq);
	return PyLong_FromLong(ret);
}

/*
 * write_fd(fd, src, format, shape): write(2) src to fd (a producer file:
 * one frame) when src's buffer is C-contiguous and has this buffer format
 * (struct module syntax, as memoryview.format gives it) and shape (a tuple
 * of ints): the checks of an array of the stream's dtype and shape, made on
 * the buffer, not on NumPy attributes. Returns the bytes written or a
 * negative errno; None, with nothing written, when src is not such a buffer
 * (the caller converts it first).
 */
static PyObject *write_fd(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	Py_buffer src;
	ssize_t ret;
	long v;
	int fd, typed;

	(void)self;
	if (nargs != 4) {
		PyErr_SetString(PyExc_TypeError, "write_fd(fd, src, format, shape)");
		return NULL;
	}
	v = PyLong_AsLong(args[0]);
	if (v == -1 && PyErr_Occurred())
		return NULL;
	if (v < 0 || v > INT_MAX) {
		PyErr_SetString(PyExc_ValueError, "write_fd: not a file descriptor");
		return NULL;
	}
	fd = (int)v;
	typed = typed_buffer(args[1], args[2], args[3], &src);
	if (typed <= 0) {
		if (typed < 0)
			return NULL;
		Py_RETURN_NONE;
	}
	Py_BEGIN_ALLOW_THREADS
	ret = write(fd, src.buf, (size_t)src.len);
	if (ret < 0)
		ret = -errno;
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&src);
	return PyLong_FromSsize_t(ret);
}

static PyMethodDef methods[] = {
	{ "bind", (PyCFunction)(void (*)(void))bind, METH_FASTCALL,
	  "bind(acquire, release, begin, commit, discard): libshmdev's functions' addresses" },
	{ "copy_frame", (PyCFunction)(void (*)(void))copy_frame, METH_FASTCALL,
	  "copy_frame(stream, mode, timeout_ns, raw, out, fourcc, width, height, stride)" },
	{ "acquire_frame", (PyCFunction)(void (*)(void))acquire_frame, METH_FASTCALL,
	  "acquire_frame(stream, mode, timeout_ns, cls, owner, handle, frames, own_nbytes, "
	  "own_fmt, layout)" },
	{ "release", (PyCFunction)(void (*)(void))release, METH_FASTCALL,
	  "release(stream, raw)" },
	{ "commit", (PyCFunction)(void (*)(void))commit, METH_FASTCALL,
	  "commit(stream, slot, nbytes, timestamp_ns)" },
	{ "write_fd", (PyCFunction)(void (*)(void))write_fd, METH_FASTCALL,
	  "write_fd(fd, src, format, shape)" },
	{ "write_frame", (PyCFunction)(void (*)(void))write_frame, METH_FASTCALL,
	  "write_frame(stream, timeout_ns, src[, format, shape])" },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "shmstream._speedups",
	.m_doc = "The Python package's per-frame copies in one call each (optional).",
	.m_size = -1,
	.m_methods = methods,
};

PyMODINIT_FUNC PyInit__speedups(void)
{
	PyObject *m;
	int i;

	for (i = 0; i < A_COUNT; i++) {
		attrs[i] = PyUnicode_InternFromString(attr_names[i]);
		if (!attrs[i])
			return NULL;
	}
	no_args = PyTuple_New(0);
	if (!no_args)
		return NULL;
	m = PyModule_Create(&module);
	if (m && PyModule_AddIntConstant(m, "API", SPEEDUPS_API)) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
