# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The responses to invitations about tickets in the trends of their team"""
from trytond.pool import Pool, PoolMeta


class Trend(metaclass=PoolMeta):
    __name__ = 'crm.survey.trend'

    @classmethod
    def _origin_teams(cls):
        pool = Pool()
        Ticket = pool.get('crm.ticket')
        return super()._origin_teams() + [('crm.ticket', Ticket.__table__())]
