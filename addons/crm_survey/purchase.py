# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"A survey for the supplier when a purchase is done"
from trytond.pool import PoolMeta

from .trigger import survey_event


class Trigger(metaclass=PoolMeta):
    __name__ = 'crm.survey.trigger'

    @classmethod
    def _get_events(cls):
        return super()._get_events() + [
            ('purchase_done', "Purchase Done"),
            ]


class Invitation(metaclass=PoolMeta):
    __name__ = 'crm.survey.invitation'

    @classmethod
    def _get_origins(cls):
        return super()._get_origins() + ['purchase.purchase']


class Purchase(metaclass=PoolMeta):
    __name__ = 'purchase.purchase'

    @classmethod
    def do(cls, purchases):
        """The supplier of a purchase done (all received and invoices
        paid) is invited"""
        with survey_event(
                'purchase_done', cls, purchases, {'done'},
                lambda p: p.party):
            super().do(purchases)
