# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"A survey when a customer invoice is paid"
from trytond.pool import PoolMeta

from .trigger import survey_event


class Trigger(metaclass=PoolMeta):
    __name__ = 'crm.survey.trigger'

    @classmethod
    def _get_events(cls):
        return super()._get_events() + [
            ('invoice_paid', "Customer Invoice Paid"),
            ]


class Invitation(metaclass=PoolMeta):
    __name__ = 'crm.survey.invitation'

    @classmethod
    def _get_origins(cls):
        return super()._get_origins() + ['account.invoice']


class Invoice(metaclass=PoolMeta):
    __name__ = 'account.invoice'

    @classmethod
    def paid(cls, invoices):
        "The customer of a paid customer invoice is invited"
        with survey_event(
                'invoice_paid', cls,
                [i for i in invoices if i.type == 'out'], {'paid'},
                lambda i: i.party):
            super().paid(invoices)
