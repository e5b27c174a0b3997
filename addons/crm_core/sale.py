# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.model import ModelView
from trytond.pool import PoolMeta
from trytond.pyson import Eval
from trytond.wizard import StateAction, Wizard


class Sale(metaclass=PoolMeta):
    __name__ = 'sale.sale'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'crm_new_quotation': {
                    'invisible': Eval('state') == 'draft',
                    'icon': 'tryton-copy',
                    'depends': ['state'],
                    },
                })

    @classmethod
    @ModelView.button_action('crm_core.wizard_sale_new_quotation')
    def crm_new_quotation(cls, sales):
        pass

    @classmethod
    def crm_copy_quotation(cls, sales):
        "Return new draft quotations copied from the sales"
        return cls.copy(sales, default={
                'state': 'draft',
                'origin': None,
                'sale_date': None,
                })


class NewQuotation(Wizard):
    """New Quotation from a Sale

    Copy the sale as a new draft quotation for the same customer and open
    it."""
    __name__ = 'sale.sale.crm_new_quotation'
    start_state = 'open_'
    open_ = StateAction('sale.act_sale_form')

    def do_open_(self, action):
        sales = self.model.crm_copy_quotation(self.records)
        data = {'res_id': [s.id for s in sales]}
        if len(sales) == 1:
            action['views'].reverse()
        return action, data
