"""The analysis front door: files (and bundle members) -> one body of evidence -> findings.

Each input is opened here (the only place that reads files), its kind detected from content,
and its bytes streamed in 1 MiB chunks to the analyzer for that kind. Every analyzer only
reports observations; they are pooled across all inputs and diagnosed once, so a TLS error
in a log and the chain seen in a capture of the same failure combine into one finding. An
input that cannot be used becomes an ``errors`` entry and the others are still analysed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import kb
from checks.detect import HEAD_BYTES, detect
from checks.diagnose import diagnose
from checks.explog_observe import LogObserver
from checks.logcalls import CallTracker
from checks.model import Evidence, InputInfo, InputProblem, Observation, Observed, Report, Timeline
from checks.parsers import bundle as bundles
from checks.parsers import explog, netstat, sdl, xconf
from checks.pemfiles import PemStore
from checks.xconf_lint import lint
from kb.errors import InputError

CHUNK = 1 << 20
# Codes of the shared SIP rules (checks.sipcalls) taken from logs: the call-flow rules that need
# the log's own context (direction, search lines) are the log's (checks.logcalls).
SIPCALLS_CODES = frozenset({"sip.offer_without_supported_audio_codec", "sip.audio_declined",
                            "sip.bye_cause_47", "sip.response_488"})
# The value the guide recommends for Unified CM SIP Max Incoming Message Size.
RECOMMENDED_SIP_MAX_SIZE = 18000
MAX_PEM_MEMBER_BYTES = 4 << 20

Progress = Callable[[int, int], None]


def analyze(paths: Iterable[str], kind: str = "auto", progress: Progress | None = None) -> Report:
    paths = list(paths)
    run = _Run(progress=progress, total=sum(_size(p) for p in paths))
    for path in paths:
        run.analyze_file(path, kind)
    return run.report()


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or exc.__class__.__name__


@dataclass
class _Run:
    progress: Progress | None
    total: int
    done: int = 0
    inputs: list[InputInfo] = field(default_factory=list)
    errors: list[InputProblem] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    timelines: list[Timeline] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    calls: CallTracker = field(default_factory=CallTracker)
    pems: PemStore = field(default_factory=PemStore)

    # -- files -----------------------------------------------------------------------------
    def analyze_file(self, path: str, kind: str) -> None:
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed below; chunks are read lazily from it
        except OSError as exc:
            self.errors.append(InputProblem(path, f"cannot read the file ({exc.strerror or exc.__class__.__name__})"))
            return
        with f:
            try:
                head = f.read(HEAD_BYTES)
                found = self._kind(head, kind)
                self.inputs.append(InputInfo(path, found))
                f.seek(0)
                if found == "bundle":
                    self._bundle(path, f, head)
                else:
                    self._dispatch(found, path, self._read(f))
            except InputError as exc:
                self.errors.append(InputProblem(path, _one_line(exc)))
            except OSError as exc:
                self.errors.append(InputProblem(path, f"read failed ({exc.strerror or exc.__class__.__name__})"))

    @staticmethod
    def _kind(head: bytes, asked: str) -> str:
        detected = detect(head)  # raises for empty and binary-as-text input, whatever was asked
        if asked in ("auto", "", None):
            return detected
        if asked in ("log", "xconf", "sdl", "netstat") and detected in ("pcap", "bundle"):
            raise InputError(f"this is a {'capture' if detected == 'pcap' else 'compressed archive'}, not a {asked} file")
        return asked

    def _read(self, f) -> Iterator[bytes]:
        while data := f.read(CHUNK):
            self.done += len(data)
            if self.progress:
                self.progress(min(self.done, self.total), self.total)
            yield data

    # -- analyzers by kind -------------------------------------------------------------------
    def _dispatch(self, kind: str, name: str, chunks: Iterable[bytes]) -> None:
        if kind == "log":
            self._log(name, chunks)
        elif kind == "xconf":
            self.observations += lint(xconf.parse(chunks), name)
        elif kind == "sdl":
            self._sdl(name, chunks)
        elif kind == "netstat":
            self._netstat(name, chunks)
        elif kind == "pem":
            data = b"".join(_capped(chunks, MAX_PEM_MEMBER_BYTES))
            self.pems.add(name, data)
        elif kind == "pcap":
            self._pcap(name, chunks)
        else:
            raise InputError(f"unknown kind {kind!r}")

    def _log(self, name: str, chunks: Iterable[bytes]) -> None:
        observer = LogObserver(name, self.calls)
        scanner = explog.LogScanner()
        for chunk in chunks:
            for rec in scanner.feed(chunk):
                observer.add(rec)
        for rec in scanner.close():
            observer.add(rec)
        obs, timelines = observer.finish()
        self.observations += obs
        self.timelines += timelines
        if scanner.long_lines:
            self.warnings.append(f"{name}: {scanner.long_lines} part(s) of over-long lines were read as run-together records")
        if scanner.skipped_sip_blocks:
            self.warnings.append(f"{name}: {scanner.skipped_sip_blocks} SIP message block(s) too large or cut off were skipped")

    def _sdl(self, name: str, chunks: Iterable[bytes]) -> None:
        seen = 0
        for hit in sdl.scan(chunks):
            seen += 1
            if seen > 4:
                continue
            facts = [("recommended", str(RECOMMENDED_SIP_MAX_SIZE))]
            if hit.limit is not None:
                facts.append(("limit", str(hit.limit)))
            self.observations.append(Observation("sdl.large_message_reset",
                                                 (Evidence(name, f"line {hit.line}", hit.text[:400]),), tuple(facts)))
            if seen == 1:
                limit = f"{hit.limit} bytes" if hit.limit else "its limit"
                self.timelines.append(Timeline(f"Unified CM dropped a SIP message ({name})", (
                    f"{hit.time or '?'} message from {hit.peer or '?'} larger than {limit}: Unified CM reset the "
                    f"connection without answering   [line {hit.line}]",
                    f"SIP Max Incoming Message Size is {hit.limit or '?'}; the guide recommends "
                    f"{RECOMMENDED_SIP_MAX_SIZE}.")))

    def _netstat(self, name: str, chunks: Iterable[bytes]) -> None:
        on_5062 = [l for l in netstat.listeners(chunks) if l.port == 5062]
        if on_5062 and all(netstat.is_loopback(l.address) for l in on_5062):
            self.observations.append(Observation(
                "netstat.5062_loopback_only",
                tuple(Evidence(name, f"line {l.line}", l.text) for l in on_5062[:4]),
                (("addresses", ", ".join(l.address for l in on_5062)),)))

    def _pcap(self, name: str, chunks: Iterable[bytes]) -> None:
        try:
            from checks.capture import observe
        except ImportError:
            raise InputError("packet captures cannot be analysed in this installation (capture analyzer missing)") from None
        observed: Observed = observe(chunks, name)
        self.observations += observed.observations
        self.timelines += observed.timelines
        self.warnings += observed.warnings

    # -- bundles ------------------------------------------------------------------------------
    def _bundle(self, path: str, f, head: bytes) -> None:
        warn = lambda text: self.warnings.append(f"{path}: {text}")  # noqa: E731
        if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
            members = bundles.walk_zip(f, warn)
            progress_source = None
        else:
            chunks = self._read(f)
            members = bundles.walk_compressed(chunks, warn, gzip=head[:2] == b"\x1f\x8b")
            progress_source = chunks
        count = 0
        for member in members:
            count += 1
            label = f"{path}:{member.name}"
            try:
                self._member(label, member)
            except InputError as exc:
                if "decompression bomb" in str(exc) or "truncated" in str(exc):
                    raise
                self.errors.append(InputProblem(label, _one_line(exc)))
        if progress_source is None:
            self.done += _size(path)
            if self.progress:
                self.progress(min(self.done, self.total), self.total)
        if count == 0:
            raise InputError("the archive holds no file we could read")

    def _member(self, label: str, member: bundles.Member) -> None:
        chunks = member.chunks()
        head = b""
        taken: list[bytes] = []
        for data in chunks:
            taken.append(data)
            head += data[: HEAD_BYTES - len(head)]
            if len(head) >= HEAD_BYTES:
                break
        try:
            kind = detect(head)
        except InputError as exc:
            self.warnings.append(f"{label}: skipped ({_one_line(exc)})")
            return
        if kind == "bundle":
            self.warnings.append(f"{label}: skipped, archives inside archives are not opened")
            return
        self.inputs.append(InputInfo(label, kind))
        self._dispatch(kind, label, _chain(taken, chunks))

    # -- result ---------------------------------------------------------------------------------
    def report(self) -> Report:
        call_obs, call_timelines = self.calls.observe()
        self.observations += call_obs
        self.timelines += call_timelines
        self.observations += self._sip_codecs()
        try:
            self.observations += self.pems.observe()
        except InputError as exc:
            self.warnings.append(f"certificate files: {_one_line(exc)}")
        findings = diagnose(self.observations, kb.articles()) if self.observations else ()
        return Report(inputs=tuple(self.inputs), findings=tuple(findings), errors=tuple(self.errors),
                      timelines=tuple(self.timelines), warnings=tuple(self.warnings))

    def _sip_codecs(self) -> list[Observation]:
        seen = sorted((s for s in self.calls.messages.values() if s.message is not None), key=lambda s: s.order)
        if not seen:
            return []
        from checks.sipcalls import observe_sip

        found = observe_sip((s.message, s.evidence()) for s in seen)
        return [o for o in found if o.code in SIPCALLS_CODES]


def _chain(first: list[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    yield from first
    yield from rest


def _capped(chunks: Iterable[bytes], limit: int) -> Iterator[bytes]:
    got = 0
    for data in chunks:
        got += len(data)
        if got > limit:
            raise InputError(f"certificate file larger than {limit >> 20} MiB")
        yield data
