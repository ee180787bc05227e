"""Tools act as the owner of the data directory, so they never leave files the service
cannot open (the lock file, a restored database, backups/).

Run by root on a data dir owned by another user (the service's `arbot`), a tool switches to
that user and group before touching anything; run by any other user who does not own the
directory, it refuses with the command that works. The config file has been read by then.
"""

from __future__ import annotations

import grp
import os
import pwd
import shlex
import sys
from pathlib import Path

from arbot.errors import DatabaseError


def existing_ancestor(path: Path) -> Path:
    """`path`, or its nearest existing parent (whose owner a new data dir would get)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def user_name(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


# systemd/arbot.service's UMask=: what the tools create, the service could have created.
SERVICE_UMASK = 0o027
# The unit's StateDirectory= and User= (systemd/arbot.service, systemd/arbot.sysusers).
SERVICE_DATA_DIR = Path("/var/lib/arbot")
SERVICE_USER = "arbot"


def _make_service_dir(data_dir: Path) -> None:
    """Root running a tool (`arbot db init`) before the service's first start: the data dir
    is created as the service's, owned by its user with StateDirectoryMode=, not root's;
    then the tool acts as that user like on any later run."""
    if data_dir.absolute() != SERVICE_DATA_DIR:
        return
    try:
        user = pwd.getpwnam(SERVICE_USER)
    except KeyError:  # the unit is not installed (no sysusers entry): root's as before
        return
    try:
        data_dir.mkdir(mode=0o750, parents=True)
        os.chown(data_dir, user.pw_uid, user.pw_gid)
    except OSError as exc:
        raise DatabaseError(f"{data_dir}: cannot create data directory: {exc.strerror}") from None


def act_as_data_owner(data_dir: Path) -> None:
    """Become the owner of `data_dir` when root; refuse when another non-owner. Files are
    created under the service unit's umask (at least 027), whoever runs the tool."""
    os.umask(os.umask(SERVICE_UMASK) | SERVICE_UMASK)
    euid = os.geteuid()
    if euid == 0 and not data_dir.exists():
        _make_service_dir(data_dir)
    # Root creating a new data dir takes the owner of the tree it goes into; anyone else
    # is only refused over an existing directory (a missing one is the command's to report).
    where = existing_ancestor(data_dir) if euid == 0 else data_dir
    try:
        st = where.stat()
    except OSError:
        return  # missing or unreadable: the command itself reports the path
    if st.st_uid == euid:
        return
    name = user_name(st.st_uid)
    if euid != 0:
        who = name or f"uid {st.st_uid}"
        command = shlex.join(["arbot", *sys.argv[1:]])
        if st.st_uid == 0:
            sudo = "sudo"
        elif name:
            sudo = f"sudo -u {name}"
        else:
            sudo = f"sudo setpriv --reuid={st.st_uid} --regid={st.st_gid} --clear-groups"
        raise DatabaseError(
            f"{data_dir}: belongs to {who}, and tools must run as the data's owner "
            f"(else the service cannot open what they create); run: {sudo} {command}"
        )
    _become(st.st_uid, st.st_gid, name)


def _become(uid: int, gid: int, name: str | None) -> None:
    if name is not None:
        gid = pwd.getpwuid(uid).pw_gid
        groups = os.getgrouplist(name, gid)
    else:
        groups = [gid]
    # Group first: once the uid is dropped, changing groups is no longer allowed.
    os.setgroups(groups)
    os.setgid(gid)
    os.setuid(uid)
    stdlib = Path(os.__file__).parent
    if not os.access(stdlib, os.R_OK | os.X_OK):
        # Python imports some modules on first use: they would fail half-way through.
        raise DatabaseError(
            f"{stdlib}: this Python is not readable by {name or uid}, the data's owner "
            "(the service cannot run it either); install arbot with a system Python, "
            "e.g. /usr/bin/python3 -m venv /opt/arbot (README: Running under systemd)"
        )
    os.environ["HOME"] = pwd.getpwuid(uid).pw_dir if name else "/"
    group = _group_name(gid)
    print(f"arbot: acting as {name or uid}:{group} (owner of the data directory)", file=sys.stderr)


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
