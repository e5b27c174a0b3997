# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The marketing view of a customer on its 360° view"""
from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction

from .rfm import SEGMENTS


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    marketing_rfm_segment = fields.Function(fields.Selection(
            [(None, '')] + SEGMENTS, "RFM Segment",
            help="The customer's RFM segment in the current company."),
        'get_marketing_rfm', searcher='search_marketing_rfm')
    marketing_rfm_score = fields.Function(fields.Char(
            "RFM Score",
            help="The recency, frequency and monetary scores (1 to 5) of "
            "the customer in the current company, e.g. 545."),
        'get_marketing_rfm', searcher='search_marketing_rfm')

    @classmethod
    def get_marketing_rfm(cls, parties, names):
        pool = Pool()
        RFM = pool.get('crm.rfm')
        ModelAccess = pool.get('ir.model.access')
        company = Transaction().context.get('company')
        result = {n: {p.id: None for p in parties} for n in names}
        # the party form of a user who may not read the scores
        if not ModelAccess.check('crm.rfm', 'read', raise_exception=False):
            return result
        for rfm in RFM.search([
                    ('company', '=', company),
                    ('party', 'in', [p.id for p in parties]),
                    ], order=[]):
            for name in names:
                result[name][rfm.party.id] = getattr(
                    rfm, name[len('marketing_rfm_'):])
        return result

    @classmethod
    def search_marketing_rfm(cls, name, clause):
        pool = Pool()
        RFM = pool.get('crm.rfm')
        rfm = RFM.__table__()
        _, operator, value = clause[:3]
        scores = RFM.search([
                ('company', '=', Transaction().context.get('company')),
                (name[len('marketing_rfm_'):], operator, value),
                ], order=[], query=True)
        return [('id', 'in', rfm.select(
                    rfm.party, where=rfm.id.in_(scores)))]


class PartyReplace(metaclass=PoolMeta):
    __name__ = 'party.replace'

    @classmethod
    def fields_to_replace(cls):
        # the scores are recomputed from the invoices, which are replaced
        return super().fields_to_replace() + [
            ('crm.rfm', 'party'),
            ]
