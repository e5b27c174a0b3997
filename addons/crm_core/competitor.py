# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.model import DeactivableMixin, ModelSQL, ModelView, fields


class Competitor(DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'crm.competitor'
    __string__ = "CRM Competitor"

    name = fields.Char("Name", required=True)
    website = fields.Char("Website")
    notes = fields.Text("Notes")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('name', 'ASC'))
