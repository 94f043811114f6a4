"""Totals of an evaluation run, as JSON and Markdown, and the comparison of two runs."""

from __future__ import annotations

import statistics
import warnings
from typing import Any


def ranking(records: list[dict[str, Any]], k: int) -> dict[str, float]:
    """hit rate, recall, MRR and nDCG at k (ranx) of the answerable turns, by document."""
    from ranx import Qrels, Run, evaluate  # deferred: numba compiles on first use

    judged = [r for r in records if r["answerable"] and r["expected_documents"]]
    if not judged:
        return {}
    qrels = Qrels({r["id"]: dict.fromkeys(r["expected_documents"], 1) for r in judged})
    ranked = {}
    for r in judged:
        documents = list(dict.fromkeys(f for f in r["sources"] if f))  # chunks of one file count once
        ranked[r["id"]] = {f: 1.0 / rank for rank, f in enumerate(documents, start=1)} or {"(none)": 1.0}
    metrics = [f"hit_rate@{k}", f"recall@{k}", f"mrr@{k}", f"ndcg@{k}"]
    with warnings.catch_warnings():  # numba's notes on its own integer casts
        warnings.simplefilter("ignore")
        scores = evaluate(qrels, Run(ranked), metrics, make_comparable=True)
    return {name: round(float(value), 4) for name, value in scores.items()}


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _rightly_cited(record: dict[str, Any]) -> bool:
    """Right with the right citation: the reference page where the turn lists pages, else the right document."""
    cited = record["cites_right_page"] if record.get("cites_right_page") is not None else record["cites_right_source"]
    return bool(record["correct"] and cited)


def _pages(records: list[dict[str, Any]]) -> dict[str, float | None]:
    """For turns with reference pages: citations that name one, and turns whose sources hold one."""
    paged = [r for r in records if r["answerable"] and r.get("expected_pages")]
    correct = [r for r in paged if r["correct"]]
    retrieved = [
        r
        for r in paged
        if any(
            f in r["expected_documents"] and p in r["expected_pages"]
            for f, p in zip(r["sources"], r["source_pages"], strict=True)
        )
    ]
    return {
        "correct_citing_right_page": _share(sum(bool(r["cites_right_page"]) for r in correct), len(correct)),
        "citation_precision": _share(
            sum(r["citations_on_reference"] for r in paged), sum(r["citations_checked"] for r in paged)
        ),
        "reference_page_retrieved": _share(len(retrieved), len(paged)),
    }


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = [r for r in records if r["answerable"]]
    unanswerable = [r for r in records if not r["answerable"]]
    correct_answers = [r for r in answerable if r["correct"]]
    k = max((len(r["sources"]) for r in records), default=0) or 1
    latencies = sorted(r["latency_seconds"] for r in records)
    tokens = [r["tokens"] for r in records if r["tokens"] is not None]
    return {
        "questions": len(records),
        "correct": _share(sum(r["correct"] for r in records), len(records)),
        "answerable_correct": _share(len(correct_answers), len(answerable)),
        "correct_citing_right_source": _share(
            sum(r["cites_right_source"] for r in correct_answers), len(correct_answers)
        ),
        "answerable_correct_and_cited": _share(sum(_rightly_cited(r) for r in answerable), len(answerable)),
        **_pages(records),
        "unanswerable_declined": _share(sum(r["declined"] for r in unanswerable), len(unanswerable)),
        "answerable_declined": _share(sum(r["declined"] for r in answerable), len(answerable)),
        "repetition_loops": sum(r["loops"] for r in records),
        "dangling_citations": sum(len(r["dangling_citations"]) for r in records),
        "failed_requests": sum(r["status"] != 200 or bool(r["errors"]) for r in records),
        "by_kind": {
            kind: _share(
                sum(r["correct"] for r in records if r["kind"] == kind), sum(r["kind"] == kind for r in records)
            )
            for kind in dict.fromkeys(r["kind"] for r in records)
        },
        "retrieval": ranking(records, k),
        "latency_seconds": {
            "median": round(statistics.median(latencies), 3) if latencies else None,
            "p95": round(latencies[int(0.95 * (len(latencies) - 1))], 3) if latencies else None,
        },
        "tokens_mean": round(statistics.fmean(tokens), 1) if tokens else None,
    }


def _flat(summary: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in summary.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat


_SHARES = (
    "correct",
    "answerable_correct",
    "correct_citing_right_source",
    "answerable_correct_and_cited",
    "correct_citing_right_page",
    "citation_precision",
    "reference_page_retrieved",
    "unanswerable_declined",
    "answerable_declined",
)


def _cell(name: str, value: Any) -> str:
    """Shares of questions as percentages; other figures as they are."""
    if value is None:
        return "–"
    if name in _SHARES or name.startswith("by_kind."):
        return f"{value:.1%}"
    return str(value)


def markdown(report: dict[str, Any]) -> str:
    """The run's settings, totals and each question's outcome."""
    run, summary = report["run"], report["summary"]
    lines = [f"# Evaluation: {run['target']}", "", f"`{run['command']}` on {run['started_at']}", ""]
    lines += ["| metric | value |", "|---|---|"]
    lines += [f"| {name} | {_cell(name, value)} |" for name, value in _flat(summary).items()]
    lines += [
        "",
        "| id | kind | correct | cites right source | cites right page | declined | sources | answer |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["turns"]:
        answer = " ".join(r["answer"].split()).replace("|", "\\|")
        answer = answer if len(answer) <= 160 else answer[:159] + "…"
        pages = r.get("source_pages") or [None] * len(r["sources"])
        places = (f"{f} p. {p}" if p else f for f, p in zip(r["sources"], pages, strict=True) if f)
        sources = ", ".join(dict.fromkeys(places))
        lines.append(
            f"| {r['id']} | {r['kind']} | {_mark(r['correct'])} | {_mark(r['cites_right_source'])} | "
            f"{_mark(r.get('cites_right_page'))} | {_mark(r['declined'])} | {sources} | {answer} |"
        )
    return "\n".join(lines) + "\n"


def _mark(value: bool | None) -> str:
    return "–" if value is None else ("yes" if value else "no")


def comparison(before: dict[str, Any], after: dict[str, Any]) -> str:
    """Markdown: each total before and after, and the questions whose correctness changed."""
    old, new = _flat(before["summary"]), _flat(after["summary"])
    lines = [
        f"# Comparison: {before['run']['target']} → {after['run']['target']}",
        "",
        f"before: `{before['run']['command']}`; after: `{after['run']['command']}`",
        "",
        "| metric | before | after |",
        "|---|---|---|",
    ]
    lines += [
        f"| {name} | {_cell(name, old.get(name))} | {_cell(name, new.get(name))} |"
        for name in dict.fromkeys([*old, *new])
    ]
    was = {r["id"]: r["correct"] for r in before["turns"]}
    changed = [r for r in after["turns"] if r["id"] in was and was[r["id"]] != r["correct"]]
    lines += ["", f"{len(changed)} question(s) changed:", ""]
    lines += [f"- {r['id']}: {'now correct' if r['correct'] else 'no longer correct'}" for r in changed]
    return "\n".join(lines) + "\n"
