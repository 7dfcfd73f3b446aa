#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
#
# Check tools/syzkaller/shmstream.txt without syzkaller (not packaged in
# Debian): it parses the description language (syzlang) as far as the file
# uses it and checks that
#   - every line is a declaration syzlang knows, every bracket closes;
#   - every type, flag set and resource named is declared here or is one of
#     syzkaller's own (fd, vma, mmap_prot, ...);
#   - len/bytesize name a sibling field, "parent" or an argument;
#   - every "ABI M.N" the file names is the header's SHMSTREAM_ABI_MAJOR.
#     SHMSTREAM_ABI_MINOR (and the file names one);
#   - every constant exists in the uapi header (compiled, as syz-extract
#     does), and every SHMSTREAM_IOC_* of the header has an ioctl$ call;
#   - ioctl$SHMSTREAM_IOC_X passes const[SHMSTREAM_IOC_X] and a pointer to
#     the structure of the header's _IOWR/_IOW/_IOR, in its direction
#     (inout/in/out); the compiled command has the magic
#     SHMSTREAM_IOC_MAGIC and that structure's size;
#   - any other ioctl$ passes flags of literal command numbers, each of
#     which decodes (_IOC_DIR/TYPE/NR/SIZE, compiled) to the magic, the
#     direction and number of a header command with other size bits (the
#     kernel ignores them), and together they reach every header command;
#   - every value of a flag set (or resource) fits the integer it is used
#     with;
#   - every struct has the C struct's size and each field its offset and
#     its size, with no padding between fields (the uapi structs have none).
# Usage: check.py [DESCRIPTION [UAPI_INCLUDE_DIR]]
import os
import re
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
top = os.path.dirname(os.path.dirname(here))
desc = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "shmstream.txt")
uapi = sys.argv[2] if len(sys.argv) > 2 else os.path.join(top, "uapi")
header = os.path.join(uapi, "linux", "shmstream.h")

# Declared by syzkaller itself (sys/linux/*.txt and the compiler).
EXTERNAL = {"fd", "vma", "mmap_prot", "mmap_flags", "buffer"}
INTS = {"int8": 1, "int16": 2, "int32": 4, "int64": 8, "intptr": 8}
BUILTIN = set(INTS) | {"const", "flags", "array", "ptr", "ptr64", "string", "stringnoz",
                       "len", "bytesize", "bitsize", "vma", "proc", "void", "fileoff"}
DIRS = {"in", "out", "inout"}
errors = []


def err(line, msg):
    errors.append(f"{desc}:{line}: {msg}")


def tokenize(text, line):
    """Split a type expression into names, numbers, strings and [ ] , :"""
    toks = []
    for m in re.finditer(r'\s*("(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_$]*|-?0x[0-9a-fA-F]+|-?\d+|[\[\],:()])', text):
        toks.append(m.group(1))
    if "".join(toks) != re.sub(r"\s+", "", text) and text.strip():
        err(line, f"cannot parse '{text.strip()}'")
    return toks


def parse_type(toks, pos, line):
    """type := name ['[' arg (',' arg)* ']'];  arg := type | int[:int] | string"""
    if pos >= len(toks):
        err(line, "type expected")
        return None, pos
    tok = toks[pos]
    pos += 1
    if tok.startswith('"') or re.match(r"-?(0x|\d)", tok):
        node = {"lit": tok, "args": []}
        if pos < len(toks) and toks[pos] == ":":
            node["hi"] = toks[pos + 1]
            pos += 2
        return node, pos
    node = {"name": tok, "args": []}
    if pos < len(toks) and toks[pos] == "[":
        pos += 1
        while True:
            arg, pos = parse_type(toks, pos, line)
            node["args"].append(arg)
            if pos < len(toks) and toks[pos] == ",":
                pos += 1
                continue
            if pos < len(toks) and toks[pos] == "]":
                pos += 1
                break
            err(line, f"',' or ']' expected in {tok}[...]")
            return node, len(toks)
    return node, pos


def parse_full_type(text, line):
    toks = tokenize(text, line)
    node, pos = parse_type(toks, 0, line)
    if pos != len(toks):
        err(line, f"trailing tokens after the type: {' '.join(toks[pos:])}")
    return node


structs, flags, resources, calls, consts = {}, {}, {}, [], set()
flag_uses = []  # (flag set or resource, integer type, line)
resource_vals = {}

lines = open(desc).read().split("\n")
abi_named = [(n + 1, int(m.group(1)), int(m.group(2))) for n, ln in enumerate(lines)
             for m in re.finditer(r"\bABI (\d+)\.(\d+)\b", ln)]
i = 0
while i < len(lines):
    n = i + 1
    raw = lines[i]
    # Comments are whole lines here.
    text = "" if raw.lstrip().startswith("#") else raw.rstrip()
    i += 1
    if not text.strip():
        continue
    if m := re.fullmatch(r"include <([\w/.-]+)>", text):
        continue
    if m := re.fullmatch(r"resource (\w+)\[(\w+)\](?::\s*(.*))?", text):
        resources[m.group(1)] = (m.group(2), n)
        resource_vals[m.group(1)] = []
        for v in (m.group(3) or "").split(","):
            v = v.strip()
            if v:
                resource_vals[m.group(1)].append(v)
            if v and not re.fullmatch(r"0x[0-9a-fA-F]+|\d+", v):
                consts.add(v)
        continue
    if m := re.fullmatch(r"(\w+) = (.*)", text):
        vals = [v.strip() for v in m.group(2).split(",")]
        flags[m.group(1)] = (vals, n)
        for v in vals:
            if not v:
                err(n, f"empty value in {m.group(1)}")
            elif v[0] == '"':
                if not re.fullmatch(r'"[^"]+"', v):
                    err(n, f"bad string {v}")
            elif not re.fullmatch(r"0x[0-9a-fA-F]+|\d+", v):
                consts.add(v)
        continue
    if m := re.fullmatch(r"(\w+(?:\$\w+)?)\((.*)\)\s*(\w+)?", text):
        args = []
        depth, cur = 0, ""
        for ch in m.group(2):
            depth += ch == "["
            depth -= ch == "]"
            if ch == "," and depth == 0:
                args.append(cur)
                cur = ""
            else:
                cur += ch
        if cur.strip():
            args.append(cur)
        parsed = []
        for a in args:
            am = re.fullmatch(r"\s*(\w+) (.+)", a)
            if not am:
                err(n, f"argument '{a.strip()}' is not 'name type'")
                continue
            parsed.append((am.group(1), parse_full_type(am.group(2), n)))
        calls.append((m.group(1), parsed, m.group(3), n))
        continue
    if m := re.fullmatch(r"(\w+) \{", text):
        name, fields = m.group(1), []
        while i < len(lines) and not lines[i].startswith("}"):
            fl = re.sub(r"#.*$", "", lines[i]).strip()
            i += 1
            if not fl:
                continue
            fm = re.fullmatch(r"(\w+)\s+(.+?)(?:\s+\((\w+)\))?", fl)
            if not fm:
                err(i, f"field '{fl}' is not 'name type [(dir)]'")
                continue
            if fm.group(3) and fm.group(3) not in DIRS:
                err(i, f"unknown field attribute ({fm.group(3)})")
            fields.append((fm.group(1), parse_full_type(fm.group(2), i), i))
        if i >= len(lines):
            err(n, f"struct {name} not closed")
        elif lines[i].strip() != "}":
            err(i + 1, "attributes after a struct are not used here")
        i += 1
        if name in structs:
            err(n, f"struct {name} declared twice")
        structs[name] = (fields, n)
        continue
    err(n, f"not a syzlang declaration: '{text.strip()}'")


def is_num(tok):
    return re.fullmatch(r"-?(0x[0-9a-fA-F]+|\d+)", tok) is not None


def check_type(t, line, siblings, in_struct):
    """Resolve every name in type t; collect constants."""
    if t is None:
        return
    if "lit" in t:
        for v in (t["lit"], t.get("hi", "0")):
            if not v.startswith('"') and not is_num(v):
                consts.add(v)
        return
    name, args = t["name"], t["args"]
    if name in ("len", "bytesize", "bitsize"):
        target = args[0]["name"] if args and "name" in args[0] else None
        if target != "parent" and target not in siblings:
            err(line, f"{name}[{target}]: no field or argument of that name")
        if in_struct and (len(args) < 2 or args[1].get("name") not in INTS):
            err(line, f"{name} in a struct needs its integer type")
        return
    if name in ("flags", "string", "stringnoz"):
        ref = args[0] if args else None
        if ref and "name" in ref:
            if ref["name"] not in flags and ref["name"] not in EXTERNAL:
                err(line, f"{name}[{ref['name']}]: no such flag set")
            elif name == "flags" and ref["name"] in flags:
                base = args[-1].get("name") if len(args) > 1 else "intptr"
                flag_uses.append((ref["name"], base, line))
        for a in args[1:]:
            check_type(a, line, siblings, in_struct)
        return
    if name in ("ptr", "ptr64", "buffer"):
        if not args or args[0].get("name") not in DIRS:
            err(line, f"{name} needs a direction (in, out, inout) first")
        for a in args[1:]:
            check_type(a, line, siblings, in_struct)
        return
    if name in BUILTIN:
        for a in args:
            check_type(a, line, siblings, in_struct)
        return
    if name in resources:
        flag_uses.append((name, name, line))
        return
    if name in structs or name in EXTERNAL:
        return
    if re.fullmatch(r"[A-Z_][A-Z0-9_]*", name):
        consts.add(name)
        return
    err(line, f"unknown type '{name}'")


any_size_sets = []  # (call, flag set of literal command numbers, line)
for name, (base, n) in resources.items():
    if base not in INTS and base not in resources and base not in EXTERNAL:
        err(n, f"resource {name}: unknown base '{base}'")
for cname, args, ret, n in calls:
    names = {a for a, _ in args}
    for _, t in args:
        check_type(t, n, names, False)
    if ret and ret not in resources:
        err(n, f"{cname} returns '{ret}', not a resource")
    if cname.startswith("ioctl$"):
        cmd = dict(args).get("cmd")
        want = cname.split("$", 1)[1]
        if cmd and cmd.get("name") == "flags" and not want.startswith("SHMSTREAM_IOC_"):
            ref = cmd["args"][0].get("name") if cmd["args"] else None
            if ref in flags:
                any_size_sets.append((cname, ref, n))
        # Another driver's command on our fds is named <CMD>_shmstream, so
        # that it does not clash with syzkaller's own ioctl$<CMD>.
        elif not cmd or cmd.get("name") != "const" or \
                cmd["args"][0].get("name") not in (want, want.removesuffix("_shmstream")):
            err(n, f"{cname}: cmd is not const[{want}]")
for sname, (fields, n) in structs.items():
    names = {f for f, _, _ in fields}
    for _, t, line in fields:
        check_type(t, line, names, True)

# Layouts, as syzkaller lays them out (natural alignment, like C).
def layout(t, line):
    name = t.get("name")
    if name in INTS:
        return INTS[name], INTS[name]
    if name in ("const", "flags", "len", "bytesize", "bitsize", "proc"):
        base = t["args"][-1].get("name")
        if base not in INTS:
            err(line, f"{name}[...] has no integer type")
            return 0, 1
        return INTS[base], INTS[base]
    if name == "ptr64":
        return 8, 8
    if name == "fd":  # syzkaller's own resource, an int32
        return 4, 4
    if name in ("string", "stringnoz"):
        if len(t["args"]) < 2:
            err(line, f"{name} in a struct needs a size")
            return 0, 1
        return const_value(t["args"][1]), 1
    if name == "array":
        if len(t["args"]) < 2:
            err(line, "array in a struct needs a fixed size here")
            return 0, 1
        size, align = layout(t["args"][0], line)
        return size * const_value(t["args"][1]), align
    if name in resources:
        return layout({"name": resources[name][0], "args": []}, line)
    if name in structs:
        return struct_layout(name)[:2]
    err(line, f"no layout for '{name}'")
    return 0, 1


values = {}


def const_value(t):
    tok = t.get("lit") or t.get("name")
    return int(tok, 0) if is_num(tok) else values.get(tok, 0)


layouts = {}


def struct_layout(sname):
    """Size, alignment and field offsets of a struct, worked out once (a
    nested struct is met many times; its errors are reported once)."""
    if sname in layouts:
        return layouts[sname]
    fields, _ = structs[sname]
    off, align, offsets = 0, 1, []
    for fname, t, line in fields:
        size, a = layout(t, line)
        if off % a:
            # The uapi structs have no holes: one here is a field left out.
            err(line, f"{sname}.{fname}: {a - off % a} bytes of padding before it")
        off = (off + a - 1) // a * a
        offsets.append((fname, off, size, line))
        off += size
        align = max(align, a)
    layouts[sname] = ((off + align - 1) // align * align, align, offsets)
    return layouts[sname]


# Constants and C layouts from the header, through the compiler.
hdr = open(header).read()
ioctls = set(re.findall(r"#define (SHMSTREAM_IOC_\w+)\s+_IO", hdr))
# name -> (direction syzlang gives the pointer, number, struct)
ioc_macro = {m.group(1): ({"WR": "inout", "W": "in", "R": "out"}[m.group(2)],
                          int(m.group(3), 0), m.group(4))
             for m in re.finditer(r"#define (SHMSTREAM_IOC_\w+)\s+_IO(WR|W|R)\(\s*"
                                  r"SHMSTREAM_IOC_MAGIC\s*,\s*(0x[0-9a-fA-F]+|\d+)\s*,"
                                  r"\s*struct (\w+)\s*\)", hdr)}
for name in sorted(ioctls - set(ioc_macro)):
    err(1, f"{name} (in {header}) is not _IOWR/_IOW/_IOR(SHMSTREAM_IOC_MAGIC, nr, struct ...):"
        " check.py cannot tell its structure")
for cname, args, _, n in calls:
    want = cname.split("$", 1)[1]
    if not cname.startswith("ioctl$") or want not in ioc_macro:
        continue
    dirn, _, cstruct = ioc_macro[want]
    arg = dict(args).get("arg")
    got = (arg or {}).get("args") or []
    if (not arg or arg.get("name") not in ("ptr", "ptr64") or len(got) != 2
            or got[0].get("name") != dirn or got[1].get("name") != cstruct):
        err(n, f"{cname}: arg is not ptr[{dirn}, {cstruct}] ({want} in {header})")
# Literal command numbers, to decode with the header's own _IOC_* macros.
lit_cmds = set()
for cname, ref, n in any_size_sets:
    for v in flags[ref][0]:
        if is_num(v) and 0 <= int(v, 0) < 1 << 32:
            lit_cmds.add(int(v, 0))
        else:
            err(flags[ref][1], f"{ref} (cmd of {cname}): {v} is not a 32-bit command number")
described = {c.split("$", 1)[1] for c, _, _, _ in calls if c.startswith("ioctl$")}
for missing in sorted(ioctls - described):
    err(1, f"{missing} (in {header}) has no ioctl$ description")
c_structs = set(re.findall(r"^struct (shmstream_\w+) \{", hdr, re.M))
for s in sorted(c_structs - set(structs) - {"shmstream_ctrl"}):
    err(1, f"struct {s} (in {header}) is not described")

prog = ["#include <stddef.h>", "#include <stdio.h>", "#include <fcntl.h>",
        "#include <sys/mman.h>", "#include <linux/dma-buf.h>", "#include <linux/shmstream.h>",
        "int main(void) {"]
for c in sorted(consts | {"SHMSTREAM_IOC_MAGIC", "SHMSTREAM_ABI_MAJOR", "SHMSTREAM_ABI_MINOR"}):
    prog.append(f'printf("const {c} %llu\\n", (unsigned long long)({c}));')
ioc_fmt = '"%u %u %u %u\\n", _IOC_DIR({0}), _IOC_TYPE({0}), _IOC_NR({0}), _IOC_SIZE({0})'
for c in sorted(ioc_macro):
    prog.append(f'printf("ioc {c} " {ioc_fmt.format(c)});')
    prog.append(f'printf("iocstruct {c} %zu\\n", sizeof(struct {ioc_macro[c][2]}));')
for v in sorted(lit_cmds):
    prog.append(f'printf("ioclit {v} " {ioc_fmt.format(f"{v}U")});')
for d, e in (("inout", "_IOC_READ | _IOC_WRITE"), ("in", "_IOC_WRITE"), ("out", "_IOC_READ")):
    prog.append(f'printf("iocdir {d} %u\\n", (unsigned)({e}));')
for s in sorted(set(structs) & c_structs):
    prog.append(f'printf("size {s} %zu\\n", sizeof(struct {s}));')
    for fname, _, _ in structs[s][0]:
        prog.append(f'printf("off {s} {fname} %zu\\n", offsetof(struct {s}, {fname}));')
        prog.append(f'printf("fsize {s} {fname} %zu\\n", sizeof(((struct {s} *)0)->{fname}));')
prog.append("return 0; }")
with tempfile.TemporaryDirectory() as tmp:
    src, exe = os.path.join(tmp, "c.c"), os.path.join(tmp, "c")
    open(src, "w").write("\n".join(prog) + "\n")
    cc = subprocess.run(["cc", "-I", uapi, src, "-o", exe], capture_output=True, text=True)
    if cc.returncode:
        for m in re.finditer(r"error: (.*)", cc.stderr):
            err(0, f"C: {m.group(1)}")
        if not errors:
            err(0, f"C: cc failed: {cc.stderr.strip()[-500:]}")
        c_out = ""
    else:
        c_out = subprocess.run([exe], capture_output=True, text=True, check=True).stdout
c_size, c_off, c_fsize, c_ioc, c_iocstruct, c_ioclit, c_iocdir = {}, {}, {}, {}, {}, {}, {}
for ln in c_out.splitlines():
    kind, *rest = ln.split()
    if kind == "const":
        values[rest[0]] = int(rest[1])
    elif kind == "size":
        c_size[rest[0]] = int(rest[1])
    elif kind == "off":
        c_off[(rest[0], rest[1])] = int(rest[2])
    elif kind == "fsize":
        c_fsize[(rest[0], rest[1])] = int(rest[2])
    elif kind == "ioc":
        c_ioc[rest[0]] = tuple(map(int, rest[1:]))
    elif kind == "iocstruct":
        c_iocstruct[rest[0]] = int(rest[1])
    elif kind == "ioclit":
        c_ioclit[int(rest[0])] = tuple(map(int, rest[1:]))
    elif kind == "iocdir":
        c_iocdir[rest[0]] = int(rest[1])
for s in sorted(set(structs) & c_structs):
    if not c_out:
        break
    size, _, offsets = struct_layout(s)
    if size != c_size[s]:
        err(structs[s][1], f"{s}: {size} bytes here, {c_size[s]} in C")
    for fname, off, fsize, line in offsets:
        if c_off[(s, fname)] != off:
            err(line, f"{s}.{fname} at offset {off} here, {c_off[(s, fname)]} in C")
        if c_fsize[(s, fname)] != fsize:
            err(line, f"{s}.{fname}: {fsize} bytes here, {c_fsize[(s, fname)]} in C")

if c_out:
    # The ABI the file says it describes.
    abi = (values["SHMSTREAM_ABI_MAJOR"], values["SHMSTREAM_ABI_MINOR"])
    if not abi_named:
        err(1, f"the file names no ABI version (the header's is ABI {abi[0]}.{abi[1]})")
    for line, major, minor in abi_named:
        if (major, minor) != abi:
            err(line, f"ABI {major}.{minor} here, ABI {abi[0]}.{abi[1]} in {header}")
    # The header's commands, compiled: magic, direction and size.
    magic = values["SHMSTREAM_IOC_MAGIC"]
    base = {}  # (dir, nr) -> (name, size bits)
    for name, (dirn, nr, cstruct) in sorted(ioc_macro.items()):
        d, t, cnr, size = c_ioc[name]
        if (d, t, cnr) != (c_iocdir[dirn], magic, nr) or size != c_iocstruct[name]:
            err(1, f"{name} compiles to dir {d} type {t:#x} nr {cnr:#x} size {size}, not "
                f"dir {c_iocdir[dirn]} type {magic:#x} nr {nr:#x} size {c_iocstruct[name]}")
        base[(d, cnr)] = (name, size)
    # Command numbers written out: the header's commands with other size bits.
    for cname, ref, n in any_size_sets:
        reached = set()
        for v in flags[ref][0]:
            if not is_num(v) or int(v, 0) not in c_ioclit:
                continue
            d, t, cnr, size = c_ioclit[int(v, 0)]
            name, hsize = base.get((d, cnr), (None, None))
            if t != magic:
                err(flags[ref][1], f"{ref}: {v} has type {t:#x}, not SHMSTREAM_IOC_MAGIC {magic:#x}")
            elif name is None:
                err(flags[ref][1], f"{ref}: {v} (dir {d}, nr {cnr:#x}) is no SHMSTREAM_IOC_* of {header}")
            elif size == hsize:
                err(flags[ref][1], f"{ref}: {v} is {name} itself, not other size bits")
            else:
                reached.add(name)
        for name in sorted(set(ioc_macro) - reached):
            err(flags[ref][1], f"{ref} (cmd of {cname}): no number reaches {name}")
    # Flag values that the integer they are used with cannot hold.
    for ref, base_t, line in flag_uses:
        seen = set()
        while base_t in resources and base_t not in seen:  # a resource's integer
            seen.add(base_t)
            base_t = resources[base_t][0]
        nbytes = INTS.get(base_t)
        if nbytes is None:
            continue
        vals, where = flags[ref] if ref in flags else (resource_vals[ref], resources[ref][1])
        for v in vals:
            if v.startswith('"'):
                continue
            x = int(v, 0) if is_num(v) else values.get(v)
            if x is not None and not -(1 << (8 * nbytes - 1)) <= x < 1 << (8 * nbytes):
                err(line, f"{ref}: {v} does not fit in {base_t} (line {where})")

for e in errors:
    print(e, file=sys.stderr)
if errors:
    sys.exit(1)
print(f"syzkaller: {os.path.basename(desc)}: ABI {abi[0]}.{abi[1]}, {len(calls)} calls, "
      f"{len(structs)} structs, {len(consts)} constants, all {len(ioctls)} ioctls described "
      f"(magic {magic:#x}, {len(lit_cmds)} numbers with other size bits), "
      f"layouts match the header")
