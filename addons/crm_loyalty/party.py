# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The loyalty of a customer on its 360° view: accounts, timeline, health;
the party contract"""
import datetime as dt

from sql import Cast, Literal
from sql.aggregate import Max
from sql.conditionals import Case, Coalesce
from sql.operators import Concat

from trytond import backend
from trytond.i18n import gettext
from trytond.model import fields
from trytond.modules.crm_core.party import NEUTRAL, HealthComponent
from trytond.modules.crm_core.timeline import TimelineSource, reference
from trytond.pool import Pool, PoolMeta
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction

#: The score of the loyalty activity by the days since the last points
#: earned: (at most days, score)
LOYALTY_SCORES = [(90, 100), (365, 70)]
LOYALTY_DORMANT = 30


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    loyalty_accounts = fields.Function(fields.Many2Many(
            'crm.loyalty.account', None, None, "Loyalty",
            help="The loyalty accounts of the customer, with their balance "
            "and tier."),
        'get_crm_records')

    @classmethod
    def _crm_records_domains(cls):
        domains = super()._crm_records_domains()
        domains['loyalty_accounts'] = (
            'crm.loyalty.account', 'party', [],
            [('enrolled_date', 'DESC'), ('id', 'DESC')])
        return domains

    @classmethod
    def _crm_health_components(cls, parties):
        """The loyalty activity: points earned lately score high, a member
        who no longer earns low; not a member is neutral"""
        pool = Pool()
        Account = pool.get('crm.loyalty.account')
        LoyaltyTransaction = pool.get('crm.loyalty.transaction')
        Date = pool.get('ir.date')
        components = super()._crm_health_components(parties)
        account = Account.__table__()
        line = LoyaltyTransaction.__table__()
        cursor = Transaction().connection.cursor()
        readable = Account.search([
                ('company', '=', Transaction().context.get('company')),
                ], order=[], query=True)
        last = {}
        for sub_ids in grouped_slice(
                [p.id for p in parties], backend.MAX_QUERY_PARAMS):
            cursor.execute(*account.join(line, 'LEFT',
                    condition=(line.account == account.id)
                    & (line.points > 0)
                    & line.type.in_(['earn', 'referral'])
                    ).select(
                    account.party, Max(line.date),
                    where=reduce_ids(account.party, sub_ids)
                    & account.id.in_(readable)
                    & (account.active == Literal(True)),
                    group_by=[account.party]))
            last.update(cursor)
        today = Date.today()
        string = gettext('crm_loyalty.msg_health_loyalty')
        for party in parties:
            if party.id not in last:
                component = HealthComponent(
                    'loyalty', string, NEUTRAL,
                    gettext('crm_loyalty.msg_health_loyalty_none'))
            else:
                date = last[party.id]
                if isinstance(date, str):
                    date = dt.date.fromisoformat(date)
                days = (today - date).days if date else None
                score = LOYALTY_DORMANT
                if days is not None:
                    score = next(
                        (s for d, s in LOYALTY_SCORES if days <= d),
                        LOYALTY_DORMANT)
                component = HealthComponent(
                    'loyalty', string, score,
                    gettext('crm_loyalty.msg_health_loyalty_last',
                        days=days) if days is not None
                    else gettext('crm_loyalty.msg_health_loyalty_never'))
            components.setdefault(party.id, []).append(component)
        return components


class Timeline(metaclass=PoolMeta):
    __name__ = 'crm.timeline'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.kind.selection += [
            ('loyalty_earned', "Loyalty Points Earned"),
            ('loyalty_spent', "Loyalty Points Spent"),
            ]

    @classmethod
    def _timeline_resources(cls):
        return super()._timeline_resources() + ['crm.loyalty.transaction']

    @classmethod
    def _timeline_sources(cls):
        pool = Pool()
        Account = pool.get('crm.loyalty.account')
        LoyaltyTransaction = pool.get('crm.loyalty.transaction')
        line = LoyaltyTransaction.__table__()
        account = Account.__table__()
        query = line.join(account, condition=line.account == account.id)
        points = Concat(
            Case((line.points > 0, '+'), else_=''),
            Cast(line.points, 'VARCHAR'))
        summary = Concat(points, Concat(' ', Coalesce(
                    line.reason, account.number, '')))
        return super()._timeline_sources() + [
            TimelineSource(80, 'crm.loyalty.transaction', query.select(
                    line.id, line.company, account.party, line.date,
                    Cast(Case((line.points > 0, 'loyalty_earned'),
                            else_='loyalty_spent'), 'VARCHAR'),
                    summary,
                    line.employee, line.amount,
                    reference('crm.loyalty.transaction', line))),
            ]


class PartyReplace(metaclass=PoolMeta):
    __name__ = 'party.replace'

    @classmethod
    def fields_to_replace(cls):
        return super().fields_to_replace() + [
            ('crm.loyalty.account', 'party'),
            ('crm.loyalty.account', 'referrer'),
            ]
