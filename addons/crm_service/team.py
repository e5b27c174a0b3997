# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.model import fields
from trytond.pool import PoolMeta


class Team(metaclass=PoolMeta):
    __name__ = 'crm.team'

    kind = fields.Selection([
            ('sales', "Sales"),
            ('service', "Service"),
            ], "Kind", required=True,
        help="Sales teams work the pipeline; service teams the tickets.")

    @classmethod
    def default_kind(cls):
        return 'sales'


class Opportunity(metaclass=PoolMeta):
    __name__ = 'sale.opportunity'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.team.domain = [
            cls.team.domain,
            ('kind', '=', 'sales'),
            ]
