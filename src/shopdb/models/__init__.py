"""Every table. Importing this package registers all of them on Base.metadata."""

from shopdb.kit.models import Base
from shopdb.models.b2b import B2BPaymentTerm, Company
from shopdb.models.catalog import (
    OptionValue,
    Product,
    ProductDocument,
    ProductImage,
    ProductImageVariant,
    ProductOption,
    ProductTag,
    ProductVariant,
)
from shopdb.models.checkouts import Checkout
from shopdb.models.compliance import ComplianceRecord, DataRetentionPolicy
from shopdb.models.customers import (
    Customer,
    CustomerAddress,
    CustomerGroup,
    CustomerGroupMembership,
    CustomerTag,
)
from shopdb.models.discounts import DiscountCode, GiftCard, GiftCardTransaction
from shopdb.models.events import Event, IdempotencyKey, Webhook, WebhookDelivery
from shopdb.models.fulfillments import FulfillmentOrderLineItem
from shopdb.models.identity import ApiKey, Permission, User, UserPermission
from shopdb.models.inventory import InventoryAdjustment, InventoryItem, InventoryLevel, Location
from shopdb.models.jobs import Job
from shopdb.models.markets import CurrencySettings, Market, MarketRegion
from shopdb.models.metafields import (
    CollectionProduct,
    Metafield,
    MetafieldDefinition,
    SmartCollection,
)
from shopdb.models.orders import (
    AbandonedCheckout,
    AbandonedCheckoutEnhanced,
    FulfillmentEnhanced,
    FulfillmentLineItem,
    FulfillmentOrder,
    FulfillmentService,
    Order,
    OrderDocumentStore,
    OrderFulfillment,
    OrderLineItem,
    OrderRefund,
    OrderTransaction,
    TransactionEnhanced,
)
from shopdb.models.payments import Payment, Refund, Transaction
from shopdb.models.refunds import OrderRefundLineItem, OrderRefundTransaction
from shopdb.models.returns import Return, ReturnLineItem
from shopdb.models.schedule import ScheduledTask
from shopdb.models.selling_plans import (
    ProductSellingPlan,
    SellingPlan,
    SellingPlanGroup,
    SubscriptionContract,
)
from shopdb.models.shipping import ShippingRate, ShippingZone
from shopdb.models.shop import Shop
from shopdb.models.tax import TaxRate

__all__ = [
    "AbandonedCheckout",
    "AbandonedCheckoutEnhanced",
    "ApiKey",
    "B2BPaymentTerm",
    "Base",
    "Checkout",
    "CollectionProduct",
    "Company",
    "ComplianceRecord",
    "CurrencySettings",
    "Customer",
    "CustomerAddress",
    "CustomerGroup",
    "CustomerGroupMembership",
    "CustomerTag",
    "DataRetentionPolicy",
    "DiscountCode",
    "Event",
    "FulfillmentEnhanced",
    "FulfillmentLineItem",
    "FulfillmentOrder",
    "FulfillmentOrderLineItem",
    "FulfillmentService",
    "GiftCard",
    "GiftCardTransaction",
    "IdempotencyKey",
    "InventoryAdjustment",
    "InventoryItem",
    "InventoryLevel",
    "Job",
    "Location",
    "Market",
    "MarketRegion",
    "Metafield",
    "MetafieldDefinition",
    "OptionValue",
    "Order",
    "OrderDocumentStore",
    "OrderFulfillment",
    "OrderLineItem",
    "OrderRefund",
    "OrderRefundLineItem",
    "OrderRefundTransaction",
    "OrderTransaction",
    "Payment",
    "Permission",
    "Product",
    "ProductDocument",
    "ProductImage",
    "ProductImageVariant",
    "ProductOption",
    "ProductSellingPlan",
    "ProductTag",
    "ProductVariant",
    "Refund",
    "Return",
    "ReturnLineItem",
    "ScheduledTask",
    "SellingPlan",
    "SellingPlanGroup",
    "ShippingRate",
    "ShippingZone",
    "Shop",
    "SmartCollection",
    "SubscriptionContract",
    "TaxRate",
    "Transaction",
    "TransactionEnhanced",
    "User",
    "UserPermission",
    "Webhook",
    "WebhookDelivery",
]
