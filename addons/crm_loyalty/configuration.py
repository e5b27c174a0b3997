# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, Id


class Configuration(metaclass=PoolMeta):
    __name__ = 'crm.configuration'

    loyalty_account_sequence = fields.MultiValue(fields.Many2One(
            'ir.sequence', "Loyalty Account Sequence", required=True,
            domain=[
                ('company', 'in',
                    [Eval('context', {}).get('company', -1), None]),
                ('sequence_type', '=',
                    Id('crm_loyalty', 'sequence_type_loyalty_account')),
                ],
            help="Numbers the loyalty accounts (the card number the customer quotes)."))

    @classmethod
    def multivalue_model(cls, field):
        pool = Pool()
        if field == 'loyalty_account_sequence':
            return pool.get('crm.configuration.sequence')
        return super().multivalue_model(field)

    @classmethod
    def default_loyalty_account_sequence(cls, **pattern):
        return cls.multivalue_model(
            'loyalty_account_sequence').default_loyalty_account_sequence()


class ConfigurationSequence(metaclass=PoolMeta):
    __name__ = 'crm.configuration.sequence'

    loyalty_account_sequence = fields.Many2One(
        'ir.sequence', "Loyalty Account Sequence", required=True,
        domain=[
            ('company', 'in', [Eval('company', -1), None]),
            ('sequence_type', '=', Id('crm_loyalty', 'sequence_type_loyalty_account')),
            ])

    @classmethod
    def default_loyalty_account_sequence(cls):
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        try:
            return ModelData.get_id('crm_loyalty', 'sequence_loyalty_account')
        except KeyError:
            return None
