"""The shapes of the search answer, for the OpenAPI document (answers are assembled as JSON bytes, not from these)."""
from __future__ import annotations

from catalogue_common.search.query import GROUPS_PER_DATASET, ROWS_PER_GROUP
from pydantic import Field

from ... import schemas


class PhenotypeChange(schemas.Shape):
    change: schemas.Change
    phenotype: schemas.Phenotype


class PerturbationChange(schemas.Shape):
    perturbation: schemas.Perturbation
    change: schemas.Change


class PerturbationGroup(schemas.Shape):
    perturbation: schemas.Perturbation
    change_phenotype: list[PhenotypeChange] = Field(min_length=1, max_length=ROWS_PER_GROUP)


class PhenotypeGroup(schemas.Shape):
    phenotype: schemas.Phenotype
    perturbation_change: list[PerturbationChange] = Field(min_length=1, max_length=ROWS_PER_GROUP)


class ByPerturbation(schemas.Shape):
    dataset: schemas.Dataset
    by_perturbation: list[PerturbationGroup] = Field(min_length=1, max_length=GROUPS_PER_DATASET)


class ByPhenotype(schemas.Shape):
    dataset: schemas.Dataset
    by_phenotype: list[PhenotypeGroup] = Field(min_length=1, max_length=GROUPS_PER_DATASET)
