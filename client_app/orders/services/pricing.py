"""What an order costs: lines priced from the menu, the delivery fee, the grand total. No writes."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from common.db import placeholders, select_models
from common.errors import DomainError

from ..models import MenuItem, OrderItem

MAX_QUANTITY = 50
MAX_LINES = 30
CENT = Decimal("0.01")


class OrderRejected(DomainError):
    """The order request breaks a business rule; ``field`` names the offending input."""


class ConflictsWithMenu(OrderRejected):
    """A well-formed request that disagrees with the menu as it is now: an unknown or unavailable item,
    or a stated price, total or currency that is not the server's. 409: the same request may succeed
    against another menu, and the schema cannot know the menu."""

    status, code = 409, "conflicts_with_menu"


@dataclass(frozen=True)
class LineRequest:
    item_id: str
    quantity: int
    price: Decimal | None = None  # what the client believes the price is; must match the menu


@dataclass(frozen=True)
class Priced:
    currency: str
    items: list[OrderItem]  # unsaved, without their order
    total: Decimal
    delivery_fee: Decimal

    @property
    def grand_total(self) -> Decimal:
        return self.total + self.delivery_fee


def delivery_fee_for(total: Decimal) -> Decimal:
    """Flat fee, free from a configured order value upwards."""
    config = settings.PALMETTO_CONFIG
    return Decimal(0).quantize(CENT) if total >= config.free_delivery_from else config.delivery_fee.quantize(CENT)


def order_price(
    lines: list[LineRequest], *, currency: str | None = None, total_amount: Decimal | None = None
) -> Priced:
    """Price ``lines`` from the menu. A ``currency`` or ``total_amount`` the client states must equal
    the server's figure. Raises :class:`ConflictsWithMenu` (409) when the request disagrees with the
    menu and :class:`OrderRejected` (400) when it breaks a rule of its own, naming the field."""
    shop_currency = settings.PALMETTO_CONFIG.currency
    if currency is not None and currency != shop_currency:
        raise ConflictsWithMenu(f"the shop sells in {shop_currency}, not {currency}", field="currency")
    items = _price_lines(lines)
    total = sum((item.line_total for item in items), Decimal(0)).quantize(CENT)
    if total_amount is not None and total_amount != total:
        raise ConflictsWithMenu(f"totalAmount is {total} for these items, not {total_amount}", field="totalAmount")
    return Priced(currency=shop_currency, items=items, total=total, delivery_fee=delivery_fee_for(total))


def _price_lines(lines: list[LineRequest]) -> list[OrderItem]:
    if not lines:
        raise OrderRejected("an order needs at least one item", field="items")
    if len(lines) > MAX_LINES:
        raise OrderRejected(f"at most {MAX_LINES} different items per order", field="items")
    # Looked up by id in plain SQL: the ORM compiles its query anew on every call, a tenth of an order
    # POST's CPU. (Not the menu's display order either: Meta.ordering would only add a sort.)
    ids = [line.item_id for line in lines]
    menu = {m.item_id: m for m in select_models(MenuItem, f"WHERE item_id IN ({placeholders(len(ids))})", ids)}
    items: list[OrderItem] = []
    seen: set[str] = set()
    for i, line in enumerate(lines):
        field = f"items[{i}]"
        item = menu.get(line.item_id)
        if item is None:
            raise ConflictsWithMenu(f"unknown menu item {line.item_id!r}", field=f"{field}.itemId")
        if not item.available:
            raise ConflictsWithMenu(f"{item} is not available right now", field=f"{field}.itemId")
        if line.item_id in seen:
            raise OrderRejected(
                f"{line.item_id!r} appears twice; use one line with a quantity", field=f"{field}.itemId"
            )
        seen.add(line.item_id)
        if not 1 <= line.quantity <= MAX_QUANTITY:
            raise OrderRejected(f"quantity must be between 1 and {MAX_QUANTITY}", field=f"{field}.quantity")
        if line.price is not None and line.price != item.price:
            raise ConflictsWithMenu(
                f"price of {line.item_id!r} is {item.price}, not {line.price}", field=f"{field}.price"
            )
        items.append(
            OrderItem(
                item_id=item.item_id,
                name=str(item),
                quantity=line.quantity,
                unit_price=item.price,
                line_total=(item.price * line.quantity).quantize(CENT),
            )
        )
    return items
