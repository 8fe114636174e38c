"""Run nftables scripts: through libnftables in this process (ctypes on libnftables.so.1, the
library the `nft` command is made of: ~0.1 ms per update) when it loads, else by piping the
script to `nft -f -` (~16 ms: a process per update). Debian package `nftables`
(scripts/ensure-nftables installs it). One script is one transaction: the kernel applies all of
it or nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import shutil
import subprocess
import threading
from pathlib import Path


class NftError(Exception):
    """nftables refused a script, or is not installed."""


class _Lib:
    """One libnftables context (not thread-safe: calls are serialised)."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
        lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        self.lib = lib
        self.ctx = lib.nft_ctx_new(0)
        if not self.ctx:
            raise OSError("nft_ctx_new failed")
        lib.nft_ctx_buffer_error(self.ctx)
        lib.nft_ctx_buffer_output(self.ctx)  # a `list` must not print on our stdout
        self.lock = threading.Lock()

    def run(self, script: str) -> None:
        with self.lock:
            code = self.lib.nft_run_cmd_from_buffer(self.ctx, script.encode())
            error = self.lib.nft_ctx_get_error_buffer(self.ctx) or b""
        if code != 0:
            raise NftError(error.decode(errors="replace").strip() or f"nft failed ({code})")


_lib: _Lib | None = None
_tried = False


def _library() -> _Lib | None:
    global _lib, _tried
    if not _tried:
        _tried = True
        name = ctypes.util.find_library("nftables") or "libnftables.so.1"
        try:
            _lib = _Lib(ctypes.CDLL(name))
        except (OSError, AttributeError):
            _lib = None
    return _lib


def nft_binary() -> str | None:
    return shutil.which("nft") or next(
        (p for p in ("/usr/sbin/nft", "/sbin/nft") if Path(p).exists()), None)


def available() -> str | None:
    """How scripts will run ("libnftables" or the nft path), or None without nftables."""
    if _library() is not None:
        return "libnftables"
    return nft_binary()


def run(script: str) -> None:
    """Apply one nftables script as one transaction; raises NftError."""
    lib = _library()
    if lib is not None:
        lib.run(script)
        return
    nft = nft_binary()
    if nft is None:
        raise NftError("nftables is not installed (Debian package nftables)")
    done = subprocess.run([nft, "-f", "-"], input=script, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise NftError(done.stderr.strip() or f"nft -f failed ({done.returncode})")


def delete_table(table: str) -> None:
    """Delete `ip <table>` if it exists (`add` first makes the pair one no-fail transaction)."""
    run(f"add table ip {table}\ndelete table ip {table}\n")


def table_exists(table: str) -> bool:
    try:
        run(f"list table ip {table}\n")
    except NftError:
        return False
    return True
