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
#   - every constant exists in the uapi header (compiled, as syz-extract
#     does), and every SHMSTREAM_IOC_* of the header has an ioctl$ call;
#   - every struct has the C struct's size and each field its offset, with
#     no padding between fields (the uapi structs have none).
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

lines = open(desc).read().split("\n")
i = 0
while i < len(lines):
    n = i + 1
    raw = lines[i]
    # Comments are whole lines here.
    text = "" if raw.lstrip().startswith("#") else raw.rstrip()
    i += 1
    if not text.strip():
        continue
    if m := re.fullmatch(r"include <([\w/.]+)>", text):
        continue
    if m := re.fullmatch(r"resource (\w+)\[(\w+)\](?::\s*(.*))?", text):
        resources[m.group(1)] = (m.group(2), n)
        for v in (m.group(3) or "").split(","):
            v = v.strip()
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
    if name in structs or name in resources or name in EXTERNAL:
        return
    if re.fullmatch(r"[A-Z_][A-Z0-9_]*", name):
        consts.add(name)
        return
    err(line, f"unknown type '{name}'")


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
        if not cmd or cmd["name"] != "const" or cmd["args"][0].get("name") != want:
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
        offsets.append((fname, off, line))
        off += size
        align = max(align, a)
    layouts[sname] = ((off + align - 1) // align * align, align, offsets)
    return layouts[sname]


# Constants and C layouts from the header, through the compiler.
hdr = open(header).read()
ioctls = set(re.findall(r"#define (SHMSTREAM_IOC_\w+)\s+_IO", hdr))
described = {c.split("$", 1)[1] for c, _, _, _ in calls if c.startswith("ioctl$")}
for missing in sorted(ioctls - described):
    err(1, f"{missing} (in {header}) has no ioctl$ description")
c_structs = set(re.findall(r"^struct (shmstream_\w+) \{", hdr, re.M))
for s in sorted(c_structs - set(structs) - {"shmstream_ctrl"}):
    err(1, f"struct {s} (in {header}) is not described")

prog = ["#include <stddef.h>", "#include <stdio.h>", "#include <fcntl.h>",
        "#include <sys/mman.h>", "#include <linux/shmstream.h>", "int main(void) {"]
for c in sorted(consts):
    prog.append(f'printf("const {c} %llu\\n", (unsigned long long)({c}));')
for s in sorted(set(structs) & c_structs):
    prog.append(f'printf("size {s} %zu\\n", sizeof(struct {s}));')
    for fname, _, _ in structs[s][0]:
        prog.append(f'printf("off {s} {fname} %zu\\n", offsetof(struct {s}, {fname}));')
prog.append("return 0; }")
with tempfile.TemporaryDirectory() as tmp:
    src, exe = os.path.join(tmp, "c.c"), os.path.join(tmp, "c")
    open(src, "w").write("\n".join(prog) + "\n")
    cc = subprocess.run(["cc", "-I", uapi, src, "-o", exe], capture_output=True, text=True)
    if cc.returncode:
        for m in re.finditer(r"error: (.*)", cc.stderr):
            err(0, f"C: {m.group(1)}")
        c_out = ""
    else:
        c_out = subprocess.run([exe], capture_output=True, text=True, check=True).stdout
c_size, c_off = {}, {}
for ln in c_out.splitlines():
    kind, *rest = ln.split()
    if kind == "const":
        values[rest[0]] = int(rest[1])
    elif kind == "size":
        c_size[rest[0]] = int(rest[1])
    else:
        c_off[(rest[0], rest[1])] = int(rest[2])
for s in sorted(set(structs) & c_structs):
    if not c_out:
        break
    size, _, offsets = struct_layout(s)
    if size != c_size[s]:
        err(structs[s][1], f"{s}: {size} bytes here, {c_size[s]} in C")
    for fname, off, line in offsets:
        if c_off[(s, fname)] != off:
            err(line, f"{s}.{fname} at offset {off} here, {c_off[(s, fname)]} in C")

for e in errors:
    print(e, file=sys.stderr)
if errors:
    sys.exit(1)
print(f"syzkaller: {os.path.basename(desc)}: {len(calls)} calls, {len(structs)} structs, "
      f"{len(consts)} constants, all {len(ioctls)} ioctls described, layouts match the header")
