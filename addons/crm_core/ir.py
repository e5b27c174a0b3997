# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction


class Rule(metaclass=PoolMeta):
    __name__ = 'ir.rule'

    @classmethod
    def _crm_employee_models(cls):
        "The models whose record rules evaluate the user's employees"
        return {
            'sale.opportunity', 'crm.forecast', 'crm.win_loss',
            'crm.win_loss.competitor', 'crm.win_loss.source',
            'crm.activity', 'crm.activity.statistics',
            }

    @classmethod
    def _get_context(cls, model_name):
        pool = Pool()
        User = pool.get('res.user')
        context = super()._get_context(model_name)
        if model_name in cls._crm_employee_models():
            context['employees'] = User.get_employees()
        if model_name in cls._crm_user_models():
            context['user_id'] = Transaction().user
        return context

    @classmethod
    def _crm_user_models(cls):
        "The models whose record rules evaluate the user"
        return {'crm.lead.import'}

    @classmethod
    def _get_cache_key(cls, model_names):
        pool = Pool()
        User = pool.get('res.user')
        key = super()._get_cache_key(model_names)
        if model_names & cls._crm_employee_models():
            key = (*key, User.get_employees())
        if model_names & cls._crm_user_models():
            key = (*key, Transaction().user)
        return key
