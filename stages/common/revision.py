"""The code revision a report was made from, derived from the files themselves.

`git_tree_hash("stages")` equals `git rev-parse <commit>:stages` for the commit that holds the
same files, so a reviewer can find the revision, and the report stays byte-stable (no commit id
or date that changes when nothing else did).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path


def git_tree_hash(folder: str) -> str:
    """Git's tree id for the tracked and untracked-but-not-ignored files under `folder`."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z", "--", folder],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    files = [Path(p) for p in listed.split("\0") if p and Path(p).is_file()]
    tree: dict = {}
    for path in files:
        node = tree
        for part in path.relative_to(folder).parts[:-1]:
            node = node.setdefault(part, {})
        node[path.name] = path
    return _tree_id(tree)


def _object_id(kind: str, payload: bytes) -> bytes:
    return hashlib.sha1(f"{kind} {len(payload)}\0".encode() + payload).digest()


def _tree_id(tree: dict) -> str:
    return _object_id("tree", _tree_payload(tree)).hex()


def _tree_payload(tree: dict) -> bytes:
    entries = []
    for name, node in tree.items():
        if isinstance(node, dict):
            entries.append(
                (
                    name + "/",
                    b"40000 " + name.encode() + b"\0" + _object_id("tree", _tree_payload(node)),
                )
            )
        else:
            mode = b"100755" if os.access(node, os.X_OK) else b"100644"
            entries.append(
                (name, mode + b" " + name.encode() + b"\0" + _object_id("blob", node.read_bytes()))
            )
    return b"".join(entry for _, entry in sorted(entries))
