"""The answers of the server as pydantic models: what /docs and /openapi.json describe.

The values come from the library's own `to_records()` / `to_dict()` (plain Python values; an unknown
price or margin, NaN in the library, is null here)."""

from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import BaseModel, Field

# the engine's objectives (xsell.engine.rules.OBJECTIVES; tests/test_serve.py checks they agree)
Objective = Literal["probability", "revenue", "margin"]
ItemId = Union[int, str]  # as the model holds them: a model fitted on integer ids answers with integers


class Scored(BaseModel):
    item_id: ItemId = Field(description="An item id, as in the orders the model was fitted on.")
    score: float = Field(description="The model's score (higher is better; comparable within one answer).")


class AlsoBought(BaseModel):
    item: str = Field(description="The item asked about.")
    fallback: bool = Field(description="True when the model does not know the item: the popular items instead.")
    suggestions: list[Scored] = Field(description="Best first; `model.also_bought(item, k).to_records()`.")


class Recommended(BaseModel):
    items: list[str] = Field(description="The basket asked about.")
    customer: Optional[str] = None
    fallback: bool = Field(description="True when no basket item is known: the popular items instead.")
    suggestions: list[Scored] = Field(description="Best first; `model.recommend(items, k, exclude, customer)`.")


class Suggestion(BaseModel):
    item_id: ItemId
    probability: float = Field(description="How likely the item is added, from the co-purchase counts.")
    price: Optional[float] = Field(description="Unit price; null when unknown.")
    expected_revenue: float = Field(description="probability x price (0 without a price).")
    expected_margin: Optional[float] = Field(description="probability x (price - cost); null without a cost.")
    closes_gap: bool = Field(description="Its price closes the gap to the threshold.")
    pinned: bool = Field(description="Put first by a pin of the rules.")
    reason: str = Field(description="Why it is suggested, in words.")


class CrossSell(BaseModel):
    items: list[str] = Field(description="The basket asked about.")
    customer: Optional[str] = None
    suggestions: list[Suggestion] = Field(description="Best first; `Engine.cross_sell(...).to_records()`.")
    basket_value: float = Field(description="Sum of the basket items' prices (unpriced items add 0).")
    gap: float = Field(description="threshold - basket_value, at least 0 (0 without a threshold).")
    expected_uplift_revenue: float = Field(description="Sum of the suggestions' expected revenue.")
    expected_uplift_margin: Optional[float] = Field(description="Sum of their expected margin; null if unknown.")


class UpSellSuggestion(Suggestion):
    extra_price: float = Field(description="price - the item's price.")


class UpSell(BaseModel):
    item: str = Field(description="The item asked about.")
    price: float = Field(description="The item's price.")
    suggestions: list[UpSellSuggestion] = Field(description="Best first; `Engine.up_sell(item, k).to_records()`.")


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class FileInfo(BaseModel):
    path: str
    modified: str = Field(description="The file's modification time when it was read: UTC, ISO 8601 with "
                                      "microseconds, e.g. 2026-12-02T04:17:46.113000Z.")
    size: int = Field(description="Bytes.")


class ModelInfo(FileInfo):
    type: str = Field(description="The model type, e.g. cooccurrence.")
    items: int = Field(description="Items the model knows.")


class LoadFailure(BaseModel):
    file: str = Field(description="The file that failed to load.")
    message: str
    at: str = Field(description="When: UTC, ISO 8601 with microseconds.")


class Ready(BaseModel):
    ready: bool = Field(description="A model is loaded and answering (HTTP 200; 503 before).")
    model: Optional[ModelInfo] = None
    catalog: Optional[FileInfo] = None
    rules: Optional[FileInfo] = None
    loaded_at: Optional[str] = Field(default=None, description="When the serving state began serving: UTC, ISO 8601 "
                                                               "with microseconds.")
    reloads: int = Field(default=0, description="Reloads since start (the first load not counted).")
    cross_sell: bool = Field(default=False, description="Whether /cross-sell and /up-sell answer with this model.")
    error: Optional[LoadFailure] = Field(default=None, description=(
        "The last failed load; null once a later load succeeds. The previous model keeps serving meanwhile."))


class Problem(BaseModel):
    detail: str = Field(description="What was wrong, in words.")


__all__ = ["AlsoBought", "CrossSell", "FileInfo", "Health", "ItemId", "LoadFailure", "ModelInfo", "Objective",
           "Problem", "Ready", "Recommended", "Scored", "Suggestion", "UpSell", "UpSellSuggestion"]
