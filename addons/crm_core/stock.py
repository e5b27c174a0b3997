# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The stock part of the 360° view: deliveries and their lateness, and the
forecast availability of the products of the opportunities (stock)"""
from collections import defaultdict

from sql.aggregate import Count
from sql.conditionals import Coalesce

from trytond import backend
from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction

from .access import read_domain, restrict
from .timeline import TimelineSource, reference, typed

#: The states of a delivery still to come
PENDING_STATES = ['draft', 'waiting', 'assigned', 'picked', 'packed']


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    crm_shipments = fields.Function(fields.Many2Many(
            'stock.shipment.out', None, None, "Deliveries",
            help="The customer shipments, the latest first."),
        'get_crm_records')
    crm_late_deliveries = fields.Function(fields.Integer(
            "Late Deliveries",
            help="The deliveries done after their first planned date or "
            "still pending past it."),
        'get_crm_late_deliveries')

    @classmethod
    def _crm_records_domains(cls):
        domains = super()._crm_records_domains()
        domains['crm_shipments'] = (
            'stock.shipment.out', 'customer',
            [('state', '!=', 'cancelled')],
            [('planned_date', 'DESC NULLS FIRST'), ('id', 'DESC')])
        return domains

    @classmethod
    def _crm_late_clause(cls, shipment):
        """The SQL condition of the late shipments of the table: done after
        their first planned date or still pending past it"""
        today = Pool().get('ir.date').today()
        planned_date = Coalesce(
            shipment.origin_planned_date, shipment.planned_date)
        return (((shipment.state == 'done')
                & (shipment.effective_date > planned_date))
            | (shipment.state.in_(PENDING_STATES)
                & (planned_date < today)))

    @classmethod
    def get_crm_late_deliveries(cls, parties, name):
        "The late deliveries among the shipments the user may read"
        pool = Pool()
        Shipment = pool.get('stock.shipment.out')
        shipment = Shipment.__table__()
        cursor = Transaction().connection.cursor()
        if read_domain('stock.shipment.out') is None:
            return {p.id: None for p in parties}
        result = {p.id: 0 for p in parties}
        for sub_ids in grouped_slice(list(result), backend.MAX_QUERY_PARAMS):
            cursor.execute(*restrict(shipment.select(
                        shipment.customer, Count(shipment.id),
                        where=reduce_ids(shipment.customer, sub_ids)
                        & (shipment.company
                            == Transaction().context.get('company', -1))
                        & cls._crm_late_clause(shipment),
                        group_by=shipment.customer),
                    'stock.shipment.out', shipment.id, shipment.company))
            result.update(cursor)
        return result


class Timeline(metaclass=PoolMeta):
    __name__ = 'crm.timeline'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.kind.selection += [
            ('shipment', "Delivery"),
            ]

    @classmethod
    def _timeline_resources(cls):
        return super()._timeline_resources() + ['stock.shipment.out']

    @classmethod
    def _timeline_sources(cls):
        pool = Pool()
        Shipment = pool.get('stock.shipment.out')
        shipment = Shipment.__table__()
        return super()._timeline_sources() + [
            TimelineSource(7, 'stock.shipment.out', shipment.select(
                    shipment.id, shipment.company, shipment.customer,
                    Coalesce(shipment.effective_date, shipment.planned_date),
                    typed('shipment', 'VARCHAR'),
                    Coalesce(shipment.number, shipment.reference),
                    typed(None, 'INTEGER'), typed(None, 'NUMERIC'),
                    reference('stock.shipment.out', shipment),
                    where=shipment.state != 'cancelled')),
            ]


class OpportunityLine(metaclass=PoolMeta):
    __name__ = 'sale.opportunity.line'

    forecast_quantity = fields.Function(fields.Float(
            "Forecast Quantity", digits='unit',
            help="The quantity of the product forecast in the warehouse at "
            "the expected closing date of the opportunity (today when "
            "empty), in the unit of the line."),
        'get_forecast_quantity')

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [
            ('/tree/field[@name="forecast_quantity"]', 'visual',
                If(Eval('forecast_quantity', 0) < Eval('quantity', 0),
                    'warning', '')),
            ]

    @classmethod
    def _crm_forecast_warehouses(cls):
        "The warehouses whose stock is available to the opportunities"
        pool = Pool()
        Location = pool.get('stock.location')
        warehouse = Location.get_default_warehouse()
        if warehouse:
            return [warehouse]
        return [w.id for w in Location.search([('type', '=', 'warehouse')])]

    @classmethod
    def get_forecast_quantity(cls, lines, name):
        "One products_by_location call per expected date"
        pool = Pool()
        Date = pool.get('ir.date')
        Product = pool.get('product.product')
        Uom = pool.get('product.uom')
        result = {l.id: None for l in lines}
        warehouses = cls._crm_forecast_warehouses()
        if not warehouses:
            return result
        today = Date.today()
        by_date = defaultdict(list)
        for line in lines:
            if line.product and line.product.type in {'goods', 'assets'}:
                date = max(line.opportunity.expected_closing or today, today)
                by_date[date].append(line)
        for date, date_lines in by_date.items():
            product_ids = list({l.product.id for l in date_lines})
            with Transaction().set_context(
                    stock_date_end=date, forecast=True):
                quantities = Product.products_by_location(
                    warehouses, with_childs=True,
                    grouping_filter=(product_ids,))
            for line in date_lines:
                quantity = sum(
                    quantities.get((w, line.product.id), 0)
                    for w in warehouses)
                if line.unit and line.unit != line.product.default_uom:
                    quantity = Uom.compute_qty(
                        line.product.default_uom, quantity, line.unit,
                        round=False)
                result[line.id] = quantity
        return result
