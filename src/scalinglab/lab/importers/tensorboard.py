"""Runs from a TensorBoard log folder (event files ``events.out.tfevents.*``).

The folder is searched recursively; every folder holding event files is one run, named by its
path relative to the log folder (the log folder's own name when it holds them itself); its event
files are read in order by TensorBoard's ``EventAccumulator`` with no sampling (every point kept).
Scalars are read in both encodings TensorBoard has: ``simple_value`` summaries
(``torch.utils.tensorboard.SummaryWriter.add_scalar``, TF1 ``tf.summary.scalar``) and one-element
tensor summaries of the scalars plugin (TF2 ``tf.summary.scalar``). A value logged twice at one
step keeps the last. Note that ``simple_value`` is a float32: values are what TensorBoard holds
(e.g. 2.9 reads back as 2.9000000954), and counts above 2**24 logged that way (tokens) are
rounded to float32's 24-bit precision (relative error < 6e-8).

Hyperparameters come from the hparams plugin's session start info (``SummaryWriter.add_hparams``,
TF2 ``hparams.hp.hparams``). ``add_hparams`` writes them into a new sub-folder of the run (named
by a timestamp unless ``run_name`` is given) together with its ``metric_dict`` scalars: a folder
holding hparams inside another run's folder is read as that run's hyperparameters, and its scalars
(the metric_dict summary values) are not imported. Folders with no scalars (images, graphs only)
are skipped with a note. Needs the ``tensorboard`` package (``pip install 'scalinglab[trackers]'``).

Every event file is checked first, record by record, as the TFRecord format allows: each record's
length and data carry a masked CRC-32C, and the file must end on a record boundary. A record that
fails either checksum (a damaged file) or a file that ends inside a record (a copy cut short, a
writer still running or killed) is refused, naming the file and the record's byte offset; nothing
is imported. (TensorBoard's own reader, made to follow files still being written, stops quietly
at such a record, which would import a prefix of the curve and a wrong final loss.) To import the
complete records of a truncated file, cut it to the offset given.
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path
from typing import Any

from scalinglab.errors import ScalingLabError
from scalinglab.lab.importers.source import SourceRun, json_scalar, optional_module

__all__ = ["read_runs"]

WHAT = "TensorBoard logs"


def read_runs(source: str) -> tuple[str, list[SourceRun], list[str]]:
    """(source id = the log folder's absolute path, runs, notes) of the log folder ``source``."""
    root = Path(source)
    if not root.exists():
        raise ScalingLabError(f"{source}: no such TensorBoard log folder")
    if root.is_file():
        raise ScalingLabError(f"{source}: is a file; give the TensorBoard log folder (the folder holding "
                              "events.out.tfevents.* files, or a folder above it)")
    event_files = sorted(Path(d) / f for d, _, files in os.walk(root) for f in files if "tfevents" in f)
    folders = sorted({f.parent for f in event_files})
    if not folders:
        raise ScalingLabError(f"{source}: no TensorBoard event files (events.out.tfevents.*) in this folder "
                              "or below")
    for f in event_files:
        check_records(f)
    loaded = {d: _read_folder(d) for d in folders}
    notes: list[str] = []
    runs: dict[Path, SourceRun] = {}
    for d in folders:
        series, hparams, has_session = loaded[d]
        parent = next((p for p in d.parents if p in loaded and p.is_relative_to(root)), None)
        name = d.relative_to(root).as_posix() if d != root else root.resolve().name
        if has_session and parent is not None:  # SummaryWriter.add_hparams' sub-folder
            target = runs.get(parent)
            if target is not None:
                target.hparams = {**hparams, **target.hparams}
                notes.append(f"hyperparameters of {name!r} read as those of run {target.name!r} "
                             f"(SummaryWriter.add_hparams layout); its scalar tags ({len(series)}) not imported")
                continue
        if not series:
            notes.append(f"folder {name!r} has no scalars; skipped")
            continue
        runs[d] = SourceRun(name=name, hparams=hparams, where=str(d))
        for tag, points in series.items():
            for step, value in points:
                runs[d].add(tag, step, value)
    if not runs:
        raise ScalingLabError(f"{source}: no runs found: the event files hold no scalars")
    return str(root.resolve()), list(runs.values()), notes


def check_records(path: Path) -> int:
    """Check the TFRecord framing of the event file ``path``; its number of records. Each record is
    uint64 length, masked CRC-32C of those 8 bytes, the data, masked CRC-32C of the data (all little
    endian). ScalingLabError naming the file and byte offset of the first bad or truncated record."""
    try:
        size = path.stat().st_size
        fh = path.open("rb")
    except OSError as exc:
        raise ScalingLabError(f"{path}: cannot read the TensorBoard event file ({exc.strerror or exc})") from None
    offset, count = 0, 0
    with fh:
        while offset < size:
            header = fh.read(12)
            if len(header) < 12:
                raise _truncated(path, offset, size)
            length, length_crc = struct.unpack("<QI", header)
            if masked_crc32c(header[:8]) != length_crc:
                raise ScalingLabError(f"{path}: damaged TensorBoard event file: the record at byte {offset} fails "
                                      "its length checksum (CRC-32C); nothing imported")
            if offset + 16 + length > size:
                raise _truncated(path, offset, size)
            data, data_crc = fh.read(length), fh.read(4)
            if len(data) < length or len(data_crc) < 4:  # the file shrank while it was read
                raise _truncated(path, offset, size)
            if masked_crc32c(data) != struct.unpack("<I", data_crc)[0]:
                raise ScalingLabError(f"{path}: damaged TensorBoard event file: the record at byte {offset} "
                                      f"({length} bytes) fails its data checksum (CRC-32C); nothing imported")
            offset, count = offset + 16 + length, count + 1
    return count


def _truncated(path: Path, offset: int, size: int) -> ScalingLabError:
    return ScalingLabError(f"{path}: truncated TensorBoard event file: it ends inside the record at byte {offset} "
                           f"(file size {size}): a copy cut short, or a writer still running or killed; import it "
                           f"when the run has finished, or cut the file to its first {offset} bytes to import "
                           "its complete records; nothing imported")


def _crc_table() -> tuple[int, ...]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1  # CRC-32C (Castagnoli), reflected
        table.append(c)
    return tuple(table)


_CRC32C_TABLE = _crc_table()
_LANES = 2048  # data of at least _LANES * 32 bytes is checksummed in numpy lanes (this many or more)


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``, as TFRecord files use it."""
    return _crc_update(0xFFFFFFFF, data) ^ 0xFFFFFFFF


def _crc_update(reg: int, data: bytes) -> int:
    """The CRC register after feeding ``data`` from ``reg``. Large data in numpy lanes: the update is
    linear over GF(2), so the register after chunks c_1..c_K is the XOR of each chunk's own CRC
    (from 0; the first from ``reg``) shifted over the zero bytes of the chunks after it."""
    table = _CRC32C_TABLE
    if len(data) < _LANES * 32:
        for b in data:
            reg = table[(reg ^ b) & 0xFF] ^ (reg >> 8)
        return reg
    import numpy as np

    t = np.asarray(table, dtype=np.uint32)
    n_lanes = min(max(_LANES, len(data) // 1024), 1 << 16)
    width = len(data) // n_lanes
    chunks = np.frombuffer(data, np.uint8, n_lanes * width).reshape(n_lanes, width)
    # 1024 more lanes feed zero bytes from each single byte value at each of the register's 4 bytes:
    # the table of "shift a register over `width` zero bytes"
    cols = np.concatenate([chunks, np.zeros((1024, width), np.uint8)]).T.copy()
    lanes = np.zeros(n_lanes + 1024, np.uint32)
    lanes[0] = reg
    byte_values, positions = np.arange(256, dtype=np.uint32), 8 * np.arange(4, dtype=np.uint32)
    lanes[n_lanes:] = (byte_values[None, :] << positions[:, None]).ravel()
    for col in cols:
        lanes = t[(lanes ^ col) & 0xFF] ^ (lanes >> 8)
    s0, s1, s2, s3 = lanes[n_lanes:].reshape(4, 256).tolist()
    reg = int(lanes[0])
    for crc in lanes[1:n_lanes].tolist():
        reg = s0[reg & 0xFF] ^ s1[(reg >> 8) & 0xFF] ^ s2[(reg >> 16) & 0xFF] ^ s3[reg >> 24] ^ crc
    return _crc_update(reg, data[n_lanes * width:])


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC-32C: rotate right by 15 bits, add 0xa282ead8 (mod 2**32)."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _read_folder(folder: Path) -> tuple[dict[str, list[tuple[int, Any]]], dict[str, Any], bool]:
    """(tag -> [(step, value)] in file order, hparams, whether an hparams session start was found)."""
    ea = optional_module("tensorboard.backend.event_processing.event_accumulator", WHAT)
    guidance = {ea.SCALARS: 0, ea.TENSORS: 0, ea.IMAGES: 1, ea.AUDIO: 1, ea.HISTOGRAMS: 1,
                ea.COMPRESSED_HISTOGRAMS: 1}
    try:
        acc = ea.EventAccumulator(str(folder), size_guidance=guidance)
        acc.Reload()
        series = {tag: [(int(e.step), float(e.value)) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
        series.update(_tensor_scalars(acc))
        hparams, has_session = _hparams(acc)
    except ScalingLabError:
        raise
    except Exception as exc:  # corrupt or truncated files raise the reader's own errors
        raise ScalingLabError(f"{folder}: cannot read the TensorBoard event files ({type(exc).__name__}: "
                              f"{exc})") from None
    return series, hparams, has_session


def _tensor_scalars(acc: Any) -> dict[str, list[tuple[int, Any]]]:
    """Scalars written as one-element tensors of the scalars plugin (TF2 style)."""
    tensor_util = optional_module("tensorboard.util.tensor_util", WHAT)
    out: dict[str, list[tuple[int, Any]]] = {}
    for tag in acc.Tags()["tensors"]:
        if acc.SummaryMetadata(tag).plugin_data.plugin_name != "scalars":
            continue
        points = []
        for event in acc.Tensors(tag):
            array = tensor_util.make_ndarray(event.tensor_proto)
            if array.size == 1:
                value = array.reshape(()).item()
                points.append((int(event.step), value.decode() if isinstance(value, bytes) else value))
        out[tag] = points
    return out


def _hparams(acc: Any) -> tuple[dict[str, Any], bool]:
    """Hyperparameters of the hparams plugin's session start info, and whether there was one."""
    try:
        content = acc.PluginTagToContent("hparams")
    except KeyError:
        return {}, False
    plugin_data = optional_module("tensorboard.plugins.hparams.plugin_data_pb2", WHAT)
    found, hparams = False, {}
    for blob in content.values():
        data = plugin_data.HParamsPluginData.FromString(blob)
        if data.WhichOneof("data") != "session_start_info":
            continue
        found = True
        for key, value in data.session_start_info.hparams.items():
            kind = value.WhichOneof("kind")
            if kind in ("number_value", "string_value", "bool_value"):
                raw = getattr(value, kind)  # numbers are doubles: whole ones (counts, seeds) become int
                hparams[key] = json_scalar(int(raw) if _whole(raw) else raw)
    return hparams, found


def _whole(value: Any) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value == int(value) and abs(value) < 2**53
