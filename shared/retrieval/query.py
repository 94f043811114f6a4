"""What a search request asks for, validated the same way for every backend.

`SearchOptions.plan` turns the core's RetrievalSpec into a SearchPlan, refusing (400) what no
backend should run: top_k out of range, unknown or unsuitable fields in select, facets or
highlights, and filters that do not parse or name unknown fields. The security filter is
ANDed to the parsed filter tree, so a request can never remove or widen it.

Documents that users upload (named under PRIVATE_PREFIX) are found only by the principals
they list, whether or not the deployment trims everything else (SEARCH_SECURITY_FIELD).
"""

from __future__ import annotations

import asyncio
import functools
import re
import sys
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from shared.core.errors import RequestError
from shared.retrieval.limits import MAX_LISTED_FIELDS
from shared.retrieval.schema import BY_NAME, RETRIEVABLE
from shared.text import clipped, quoted

_ODATA = "shared.retrieval.odata"  # the OData grammar: loading it takes ~190 ms

if TYPE_CHECKING:  # the OData parser and the core's types load on first search, not with the routes
    from odata_query import ast

    from shared.core.types import RetrievalSpec, SearchResult

DEFAULT_FACET_COUNT = 10  # as Azure AI Search
RRF_K = 60  # reciprocal rank fusion constant, as Azure AI Search's hybrid ranking
# Each ranking contributes this many candidates to the fusion (Azure uses 50 for text).
FUSION_CANDIDATES = 50
_FACET_COUNT = re.compile(r"count:(\d{1,4})")  # more digits: out of range, and slow to convert
# Uploaded documents' names start with this; PRIVATE_END is the first name after all of them.
PRIVATE_PREFIX = "uploads/"
PRIVATE_END = PRIVATE_PREFIX[:-1] + chr(ord("/") + 1)
PRINCIPALS_FIELD = "allowed_principals"


@dataclass(frozen=True)
class FacetSpec:
    field: str
    count: int

    @property
    def expression(self) -> str:
        """Azure AI Search's facet syntax."""
        return f"{self.field},count:{self.count}"


@dataclass(frozen=True)
class SearchPlan:
    text: str  # "" matches every document
    top_k: int
    select: tuple[str, ...]
    filter: ast._Node | None = None
    filter_text: str | None = None
    include_total_count: bool = False
    facets: tuple[FacetSpec, ...] = ()
    highlight_fields: tuple[str, ...] = ()
    vector_search: bool = True  # hybrid (text + vector) when the query has text
    vector_only: bool = False  # no full-text ranking; scores are cosine similarities
    vector_weight: float = 1.0  # the vector ranking's weight in hybrid fusion (full text: 1)
    matches_nothing: bool = False

    @property
    def searches(self) -> bool:
        """Whether there is anything to ask the index at all."""
        return self.top_k > 0 and not self.matches_nothing

    @property
    def uses_vectors(self) -> bool:
        return self.vector_search and bool(self.text)

    def empty_result(self, index_name: str) -> SearchResult:
        from shared.core.types import SearchResult

        return SearchResult(sources=(), index_name=index_name, count=0 if self.include_total_count else None)

    def restricted_to(self, security: str | None) -> SearchPlan:
        """This plan ANDed with a security filter; None (no identity) matches nothing: fail closed."""
        if security is None:
            return replace(self, matches_nothing=True)
        tree = _security_tree(security)
        if self.filter is None:
            return replace(self, filter=tree, filter_text=security)
        from odata_query import ast

        # Each side parsed on its own, so the parentheses cannot be unbalanced by the request.
        return replace(
            self,
            filter=ast.BoolOp(op=ast.And(), left=tree, right=self.filter),
            filter_text=f"({security}) and ({self.filter_text})",
        )


@functools.lru_cache(maxsize=1024)
def _security_tree(security: str) -> ast._Node:
    """A caller's security filter, parsed once: the server builds it, the same for each of their
    requests, and no step changes a parsed tree."""
    from shared.retrieval import odata

    return odata.parse(security)


@dataclass(frozen=True)
class SearchOptions:
    """A deployment's search defaults and limits, the same for every backend."""

    default_top_k: int
    max_top_k: int
    default_vector_search: bool = True
    security_field: str | None = None  # security trimming on this collection of principals
    vector_weight: float = 1.0  # hybrid fusion: the vector ranking's weight, full text's being 1

    def plan(self, question: str, spec: RetrievalSpec, identity: str | None = None) -> SearchPlan:
        """The validated plan for a request, restricted to what `identity` may see."""
        top_k = self.default_top_k if spec.top_k is None else spec.top_k
        if not 0 <= top_k <= self.max_top_k:
            raise RequestError(f"top_k must be between 0 and {self.max_top_k}, got {top_k}", field="top_k")
        for name, listed in (
            ("select_fields", spec.select_fields),
            ("highlight_fields", spec.highlight_fields),
            ("facets", spec.facets),
        ):
            if len(listed or ()) > MAX_LISTED_FIELDS:
                raise RequestError(f"{name} may list at most {MAX_LISTED_FIELDS} entries", field=name)
        select = spec.select_fields or RETRIEVABLE
        _check_fields(select, "select_fields", lambda f: f.retrievable, "retrievable")
        highlight = spec.highlight_fields or ()
        _check_fields(highlight, "highlight_fields", lambda f: f.searchable, "searchable")
        from shared.retrieval import odata

        text = (question if spec.query is None else spec.query).strip()
        filter_tree = odata.parse(spec.filter) if spec.filter else None
        if filter_tree is not None:
            odata.to_sql(filter_tree, "chunk_values")  # validates field names and types for every backend
        plan = SearchPlan(
            text="" if text == "*" else text,
            top_k=top_k,
            select=tuple(select),
            filter=filter_tree,
            filter_text=spec.filter or None,
            include_total_count=spec.include_total_count,
            facets=tuple(_facet(expression) for expression in spec.facets or ()),
            highlight_fields=tuple(highlight),
            vector_search=spec.vector_only
            or (self.default_vector_search if spec.vector_search is None else spec.vector_search),
            vector_only=spec.vector_only,
            vector_weight=self.vector_weight,
        )
        if self.security_field:
            return plan.restricted_to(security_filter(self.security_field, identity))
        return plan.restricted_to(private_documents_filter(identity))

    async def planned(self, question: str, spec: RetrievalSpec, identity: str | None = None) -> SearchPlan:
        """plan(), in a thread when the request has a filter of its own (it may be long: 500
        conditions) or the OData grammar is not loaded yet (190 ms); else on the loop, without a
        thread hop: the caller's security filter is parsed once per caller (0.2 ms), then kept."""
        if spec.filter or _ODATA not in sys.modules:
            return await asyncio.to_thread(self.plan, question, spec, identity)
        return self.plan(question, spec, identity)


def security_filter(field: str, identity: str | None) -> str | None:
    """The filter that limits results to documents shared with `identity`; None when there is none."""
    from shared.retrieval import odata

    if not identity:
        return None
    return f"{field}/any(p: p eq {odata.quote(identity)})"


def private_documents_filter(identity: str | None) -> str:
    """Every document but the uploaded ones, and those uploaded ones that list `identity`."""
    from shared.retrieval import odata

    others = f"(filename lt {odata.quote(PRIVATE_PREFIX)} or filename ge {odata.quote(PRIVATE_END)})"
    shared_with = security_filter(PRINCIPALS_FIELD, identity)
    return f"{others} or {shared_with}" if shared_with else others


def _facet(expression: str) -> FacetSpec:
    name, *parameters = [part.strip() for part in expression.split(",")]
    _check_fields([name], "facets", lambda f: f.facetable, "facetable")
    count = DEFAULT_FACET_COUNT
    for parameter in parameters:
        found = _FACET_COUNT.fullmatch(parameter)
        if not found:
            raise RequestError(
                f"unsupported facet parameter {quoted(parameter)} in {quoted(expression)}; use count:N", field="facets"
            )
        count = int(found.group(1))
    if not 1 <= count <= 1000:
        raise RequestError(f"facet count must be between 1 and 1000 in {quoted(expression)}", field="facets")
    return FacetSpec(name, count)


def _check_fields(names, request_field: str, allowed, quality: str) -> None:
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        available = ", ".join(f.name for f in BY_NAME.values() if allowed(f))
        raise RequestError(
            f"unknown field(s) in {request_field}: {', '.join(map(clipped, unknown))}; available: {available}",
            field=request_field,
        )
    unsuitable = [n for n in names if not allowed(BY_NAME[n])]
    if unsuitable:
        raise RequestError(f"field(s) in {request_field} not {quality}: {', '.join(unsuitable)}", field=request_field)
