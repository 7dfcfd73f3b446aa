# SPDX-License-Identifier: LGPL-2.1-or-later
"""A PEP 517 build backend for the pure-Python shmstream package, with no
dependency beyond the standard library (so pip builds it offline).

It reads the name, version, description, licence, Python and dependency
requirements from pyproject.toml's [project] table, and packs shmstream/ into
a py3-none-any wheel, or the source tree into an sdist.
"""

import base64
import hashlib
import io
import os
import tarfile
import zipfile

try:
    import tomllib
except ImportError:  # Python < 3.11: the fields this backend needs, read by hand
    tomllib = None

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "shmstream"


def _project():
    path = os.path.join(HERE, "pyproject.toml")
    if tomllib:
        with open(path, "rb") as f:
            return tomllib.load(f)["project"]
    project, section = {}, None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.startswith("["):
                section = line.strip("[]")
            elif section == "project" and "=" in line:
                key, value = (p.strip() for p in line.split("=", 1))
                if value.startswith('"'):
                    project[key] = value.strip('"')
                elif value.startswith("["):
                    project[key] = [v.strip().strip('"') for v in value.strip("[]").split(",")
                                    if v.strip()]
                elif value.startswith("{"):
                    project[key] = {"text": value.split('"')[1]}
    return project


def _metadata(project):
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
        f"Summary: {project.get('description', '')}",
        f"License: {project.get('license', {}).get('text', '')}",
        f"Requires-Python: {project.get('requires-python', '>=3')}",
    ]
    lines += [f"Requires-Dist: {d}" for d in project.get("dependencies", [])]
    readme = os.path.join(HERE, project.get("readme", "README.md"))
    body = ""
    if os.path.exists(readme):
        lines.append("Description-Content-Type: text/markdown")
        with open(readme, encoding="utf-8") as f:
            body = f.read()
    return "\n".join(lines) + "\n\n" + body


def _files():
    for root, dirs, files in os.walk(os.path.join(HERE, PACKAGE)):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                full = os.path.join(root, name)
                yield full, os.path.relpath(full, HERE)


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}"


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    project = _project()
    dist = f"{project['name']}-{project['version']}"
    info = f"{dist}.dist-info"
    filename = f"{dist}-py3-none-any.whl"
    entries = []
    for full, arcname in _files():
        with open(full, "rb") as f:
            entries.append((arcname, f.read()))
    entries.append((f"{info}/METADATA", _metadata(project).encode()))
    entries.append((f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: shmstream_build\n"
                    b"Root-Is-Purelib: true\nTag: py3-none-any\n"))
    entries.append((f"{info}/top_level.txt", f"{PACKAGE}\n".encode()))
    record = [_record_line(a, d) for a, d in entries] + [f"{info}/RECORD,,"]
    entries.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode()))
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w",
                         zipfile.ZIP_DEFLATED) as whl:
        for arcname, data in entries:
            zi = zipfile.ZipInfo(arcname, date_time=(2026, 1, 1, 0, 0, 0))
            zi.external_attr = 0o644 << 16
            whl.writestr(zi, data, zipfile.ZIP_DEFLATED)
    return filename


def build_sdist(sdist_directory, config_settings=None):
    project = _project()
    dist = f"{project['name']}-{project['version']}"
    filename = f"{dist}.tar.gz"
    paths = [os.path.relpath(f, HERE) for f, _ in _files()]
    paths += ["pyproject.toml", "README.md", "build_backend/shmstream_build.py"]
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz") as tar:
        for rel in paths:
            tar.add(os.path.join(HERE, rel), arcname=f"{dist}/{rel}")
        pkg_info = _metadata(project).encode()
        ti = tarfile.TarInfo(f"{dist}/PKG-INFO")
        ti.size = len(pkg_info)
        tar.addfile(ti, io.BytesIO(pkg_info))
    return filename
