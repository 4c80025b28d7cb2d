"""What ``prune_state`` reports, per matrix and gate block."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


from graphtools.prune.summary import GraphSummary
from graphtools.prune.methods import ArrayCodeFit, GuardStop


@dataclass(frozen=True)
class RewireStats:
    """A rewired matrix: target, swaps made of steps tried, sigma2 of the starting mask and reached."""

    target: str
    swaps: int
    steps: int
    sigma2_start: float
    sigma2_reached: float

    @classmethod
    def of(cls, result) -> "RewireStats":
        return cls(result.target, result.swaps, result.steps, result.sigma2_before, result.sigma2_after)


@dataclass(frozen=True)
class MatrixPruning:
    """One pruned matrix (``gate`` None) or gate block: its graph before and after.

    ``before`` is the graph of the weight's nonzeros, ``after`` the graph of the
    mask.  ``kept_zeros`` counts weights the mask keeps that are already zero (from an
    earlier pruning): they are trainable but not yet edges of the weights' own graph.
    ``guard`` (ramanujan-guard) says where the matrix or block stopped; ``array_code``
    how the code was fitted.
    """

    name: str
    gate: str | None
    shape: tuple[int, int]
    before: GraphSummary
    after: GraphSummary
    kept_zeros: int = 0
    guard: GuardStop | None = None
    array_code: ArrayCodeFit | None = None
    rewire: RewireStats | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shape"] = list(self.shape)
        for side in ("before", "after"):
            d[side]["in_degree"] = list(d[side]["in_degree"])
            d[side]["out_degree"] = list(d[side]["out_degree"])
        if self.array_code is not None:
            d["array_code"]["biregular"] = self.array_code.biregular
        return d


@dataclass(frozen=True)
class PruneReport:
    """What :func:`prune_state` did: the settings and one entry per matrix (then its gate blocks
    when ``per_gate``), in the canonical order of :func:`graphtools.model.describe`."""

    method: str
    sparsity: float
    scope: str
    seed: int
    rounds: int
    per_gate: bool
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    matrices: list[MatrixPruning] = field(default_factory=list)
    target: str | None = None  # rewire's target

    def record(self) -> dict:
        """The ``pruning`` record written into ``graphtools.meta``."""
        return {"method": self.method, "sparsity": self.sparsity, "scope": self.scope, "seed": self.seed,
                "rounds": self.rounds, "per_gate": self.per_gate, "include": list(self.include),
                "exclude": list(self.exclude), "weights": [m.name for m in self.matrices if m.gate is None]}

    def to_dict(self) -> dict:
        d = self.record()
        d["matrices"] = [m.to_dict() for m in self.matrices]
        return d
