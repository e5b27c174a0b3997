# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""A survey when a customer shipment is done, and one for the supplier when
its shipment is received"""
from trytond.pool import PoolMeta

from .trigger import survey_event


class Trigger(metaclass=PoolMeta):
    __name__ = 'crm.survey.trigger'

    @classmethod
    def _get_events(cls):
        return super()._get_events() + [
            ('shipment_out_done', "Customer Shipment Done"),
            ('shipment_in_received', "Supplier Shipment Received"),
            ]


class Invitation(metaclass=PoolMeta):
    __name__ = 'crm.survey.invitation'

    @classmethod
    def _get_origins(cls):
        return super()._get_origins() + [
            'stock.shipment.out', 'stock.shipment.in']


class ShipmentOut(metaclass=PoolMeta):
    __name__ = 'stock.shipment.out'

    @classmethod
    def do(cls, shipments):
        "The customer of a shipment done is invited"
        with survey_event(
                'shipment_out_done', cls, shipments, {'done'},
                lambda s: s.customer):
            super().do(shipments)


class ShipmentIn(metaclass=PoolMeta):
    __name__ = 'stock.shipment.in'

    @classmethod
    def receive(cls, shipments):
        """The supplier of a shipment received is invited (the host may
        make it done at once)"""
        with survey_event(
                'shipment_in_received', cls, shipments, {'received', 'done'},
                lambda s: s.supplier):
            super().receive(shipments)
