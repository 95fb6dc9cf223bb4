"""Shared objects of the app (created once in the lifespan) as named dependency aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from frontend.generation.admission import AdmissionGate
from frontend.generation.service import ImageGenerator
from frontend.http.metrics import Metrics
from frontend.settings import Settings
from frontend.storage.database import Database
from frontend.storage.images import ImageStore
from frontend.storage.usage import UsageStore
from frontend.triton.pool import TritonPool


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_generator(request: Request) -> ImageGenerator:
    return request.app.state.generator


def get_triton(request: Request) -> TritonPool:
    return request.app.state.triton


def get_store(request: Request) -> ImageStore:
    return request.app.state.store


def get_database(request: Request) -> Database:
    return request.app.state.database


def get_admission(request: Request) -> AdmissionGate:
    return request.app.state.admission


def get_usage(request: Request) -> UsageStore:
    return request.app.state.usage


def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
GeneratorDep = Annotated[ImageGenerator, Depends(get_generator)]
TritonDep = Annotated[TritonPool, Depends(get_triton)]
StoreDep = Annotated[ImageStore, Depends(get_store)]
DatabaseDep = Annotated[Database, Depends(get_database)]
AdmissionDep = Annotated[AdmissionGate, Depends(get_admission)]
UsageDep = Annotated[UsageStore, Depends(get_usage)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
