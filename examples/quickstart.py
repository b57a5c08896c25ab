"""Quick start: learn "also bought" from orders, save the model, answer requests.

Run: python examples/quickstart.py [ORDERS.csv]   (without a file it uses the synthetic shop)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import xsell


def main(argv: list[str]) -> None:
    if argv:
        # map your column names to xsell's roles once
        orders = xsell.load_orders(argv[0], columns={"order_id": "InvoiceNo", "item_id": "StockCode"})
    else:
        orders = xsell.datasets.synthetic_shop(seed=0).orders
    print(orders.report)

    model = xsell.CoOccurrence(min_count=2, neighbors=50).fit(orders)

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "also_bought.xsell"
        xsell.save_model(model, path)           # once, after training
        model = xsell.load_model(path)          # once, when the shop backend starts

    item = orders.items.ids[orders.item_counts().argmax()].item()
    print(f"\nProduct page for {item}: customers also bought")
    print(model.also_bought(item, k=5).to_frame().to_string(index=False))

    cart = [item, "SOMETHING-NEW"]                  # unknown ids are ignored
    result = model.recommend(cart, k=5)
    print(f"\nCart {cart}: complete it with {result.items}")

    baskets = {"cart-1": [item], "cart-2": ["SOMETHING-NEW"]}  # many carts at once
    print()
    print(model.recommend_batch(baskets, k=3).to_string(index=False))


if __name__ == "__main__":
    main(sys.argv[1:])
