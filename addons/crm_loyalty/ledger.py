# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Loyalty accounts and their append-only ledger of points"""
import datetime as dt
from collections import defaultdict

from sql import Literal, Null, Window
from sql.aggregate import Sum
from sql.conditionals import Case, Coalesce, Greatest, Least
from sql.functions import CurrentTimestamp
from sql.operators import Equal

from trytond import backend
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, Exclude, Index, ModelSQL, ModelView, Unique, fields)
from trytond.model.exceptions import AccessError, ValidationError
from trytond.modules.crm_core import dbtools
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .exceptions import BalanceError

TYPES = [
    ('earn', "Earned"),
    ('redeem', "Redeemed"),
    ('expire', "Expired"),
    ('adjust', "Adjustment"),
    ('referral', "Referral"),
    ('clawback', "Clawback"),
    ]


class Account(DeactivableMixin, ModelSQL, ModelView):
    "Loyalty Account"
    __name__ = 'crm.loyalty.account'
    _rec_name = 'number'

    number = fields.Char(
        "Number", readonly=True,
        help="The card number the customer quotes.")
    company = fields.Many2One(
        'company.company', "Company", required=True, readonly=True)
    program = fields.Many2One(
        'crm.loyalty.program', "Program", required=True,
        ondelete='RESTRICT',
        domain=[('company', '=', Eval('company', -1))],
        states={
            'readonly': Eval('id', -1) >= 0,
            })
    party = fields.Many2One(
        'party.party', "Customer", required=True, ondelete='RESTRICT',
        context={
            'company': Eval('company', -1),
            },
        depends={'company'},
        states={
            'readonly': Eval('id', -1) >= 0,
            })
    enrolled_date = fields.Date("Enrolled", required=True)
    balance = fields.Integer(
        "Balance", readonly=True,
        help="The points of the ledger: earned and given less redeemed, "
        "expired and taken back.")
    tier = fields.Many2One(
        'crm.loyalty.tier', "Tier", readonly=True, ondelete='RESTRICT')
    tier_date = fields.Date("Tier Since", readonly=True)
    referrer = fields.Many2One(
        'party.party', "Referred By", ondelete='RESTRICT',
        context={
            'company': Eval('company', -1),
            },
        depends={'company'},
        help="The customer who brought this one; they earn the program's "
        "referral points when this customer's first invoice is paid.")
    transactions = fields.One2Many(
        'crm.loyalty.transaction', 'account', "Transactions", readonly=True,
        order=[('date', 'DESC'), ('id', 'DESC')])
    next_expiry_date = fields.Function(
        fields.Date("Next Expiry"), 'get_next_expiry')
    next_expiry_points = fields.Function(
        fields.Integer("Points Expiring"), 'get_next_expiry')

    @classmethod
    def __setup__(cls):
        cls.number.search_unaccented = False
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('program_party_unique', Unique(t, t.program, t.party),
                'crm_loyalty.msg_account_program_party_unique'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.party, Index.Range())),
                Index(t, (t.number, Index.Similarity())),
                })
        cls._order.insert(0, ('number', 'DESC'))
        cls._buttons.update({
                'adjust': {
                    'invisible': ~Eval('active', False),
                    'depends': ['active'],
                    },
                })

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_enrolled_date():
        return Pool().get('ir.date').today()

    @staticmethod
    def default_balance():
        return 0

    @fields.depends('program')
    def on_change_program(self):
        if self.program:
            self.company = self.program.company

    def get_rec_name(self, name):
        number = self.number or str(self.id)
        if self.party:
            return f'{number} - {self.party.rec_name}'
        return number

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, value = clause
        if operator.startswith('!') or operator.startswith('not '):
            bool_op = 'AND'
        else:
            bool_op = 'OR'
        return [bool_op,
            ('number', operator, value),
            ('party.rec_name', operator, value),
            ]

    @classmethod
    def get_next_expiry(cls, accounts, names):
        "The next expiry date of unspent points and how many expire then"
        pool = Pool()
        Transaction_ = pool.get('crm.loyalty.transaction')
        dates = {a.id: None for a in accounts}
        points = {a.id: None for a in accounts}
        today = pool.get('ir.date').today()
        for account_id, expiry_date, remaining in Transaction_.remaining(
                [a.id for a in accounts]):
            if remaining <= 0 or expiry_date is None or expiry_date < today:
                continue
            if dates[account_id] is None or expiry_date < dates[account_id]:
                dates[account_id] = expiry_date
                points[account_id] = 0
            if expiry_date == dates[account_id]:
                points[account_id] += remaining
        result = {'next_expiry_date': dates, 'next_expiry_points': points}
        return {n: result[n] for n in names}

    @classmethod
    def preprocess_values(cls, mode, values):
        pool = Pool()
        Configuration = pool.get('crm.configuration')
        Program = pool.get('crm.loyalty.program')
        values = super().preprocess_values(mode, values)
        if mode == 'create':
            if values.get('program') is not None:
                values['company'] = Program(values['program']).company.id
            if not values.get('number'):
                company = values.get('company')
                with Transaction().set_context(company=company):
                    values['number'] = Configuration(1).get_multivalue(
                        'loyalty_account_sequence',
                        company=company).get()
        return values

    @classmethod
    def validate_fields(cls, accounts, field_names):
        super().validate_fields(accounts, field_names)
        if field_names is None or {'party', 'referrer'} & field_names:
            for account in accounts:
                if account.referrer and account.referrer == account.party:
                    raise ValidationError(gettext(
                            'crm_loyalty.msg_account_referrer_self',
                            account=account.rec_name))

    @classmethod
    def check_modification(cls, mode, accounts, values=None, external=False):
        super().check_modification(
            mode, accounts, values=values, external=external)
        if mode == 'delete':
            for account in accounts:
                if account.transactions:
                    raise AccessError(gettext(
                            'crm_loyalty.msg_account_delete_transactions',
                            account=account.rec_name))

    @classmethod
    def copy(cls, accounts, default=None):
        if accounts:
            raise AccessError(gettext('crm_loyalty.msg_account_copy'))
        return super().copy(accounts, default=default)

    @classmethod
    @ModelView.button_action('crm_loyalty.wizard_adjust')
    def adjust(cls, accounts):
        pass

    @classmethod
    def enroll(cls, program, parties):
        """Return the accounts of the parties in the program, opening one
        for each eligible party without"""
        accounts = {a.party.id: a for a in cls.search([
                    ('program', '=', program.id),
                    ('party', 'in', [p.id for p in parties]),
                    ('active', 'in', [True, False]),
                    ])}
        eligible = program.eligible_parties(
            [p for p in parties if p.id not in accounts])
        new = [cls(program=program, party=p, company=program.company)
            for p in parties if p.id in eligible and p.id not in accounts]
        if new:
            cls.save(new)
            accounts.update({a.party.id: a for a in new})
        return accounts

    @classmethod
    def serialize(cls, account_ids):
        """Make the transactions that post on the accounts wait for each
        other, each seeing what the one before committed"""
        dbtools.serialize(
            *(f'{cls.__name__},{i}' for i in account_ids),
            rows=(cls.__table__(), account_ids))

    @classmethod
    def update_balances(cls, account_ids=None):
        """Set the balance of the accounts (all when None) to the sum of
        their ledger, in SQL"""
        pool = Pool()
        Transaction_ = pool.get('crm.loyalty.transaction')
        table = cls.__table__()
        line = Transaction_.__table__()
        cursor = Transaction().connection.cursor()
        total = line.select(
            Coalesce(Sum(line.points), 0),
            where=line.account == table.id)
        if account_ids is None:
            cursor.execute(*table.update([table.balance], [total]))
        else:
            for sub_ids in grouped_slice(account_ids, backend.MAX_QUERY_PARAMS):
                cursor.execute(*table.update(
                        [table.balance], [total],
                        where=reduce_ids(table.id, sub_ids)))
        dbtools.clear_cache(cls, account_ids)

    #: the accounts whose points the scheduler expires per transaction
    _expiry_batch = 1000

    @classmethod
    def expire_points(cls, date=None):
        """Expire the unspent points of every award whose expiry date has
        passed, the oldest first; set-based and idempotent.

        Run by the scheduler, it commits after each batch of accounts: a run
        stopped half-way keeps the batches done, and the next run expires
        only what is left (an expired award has nothing left)."""
        pool = Pool()
        Date = pool.get('ir.date')
        Transaction_ = pool.get('crm.loyalty.transaction')
        transaction = Transaction()
        if date is None:
            date = Date.today()
        cursor = transaction.connection.cursor()
        remaining = Transaction_.remaining_query()
        # an award expired already has nothing left: its expiry took it
        cursor.execute(*remaining.select(
                remaining.account,
                where=(remaining.expiry_date < date)
                & (remaining.remaining > 0),
                group_by=[remaining.account]))
        account_ids = sorted(a for a, in cursor)
        by_cron = bool(transaction.context.get('_cron'))
        size = min(cls._expiry_batch, backend.MAX_QUERY_PARAMS)
        for sub_ids in grouped_slice(account_ids, size):
            cls._expire_points(list(sub_ids), date)
            if by_cron:
                transaction.commit()
        return account_ids

    @classmethod
    def _expire_points(cls, account_ids, date):
        "Expire the unspent points of the accounts' awards expired at date"
        pool = Pool()
        Program = pool.get('crm.loyalty.program')
        Transaction_ = pool.get('crm.loyalty.transaction')
        # a spending committed on an account after the snapshot makes the
        # update of its balance fail: the batch is retried in a new snapshot
        line = Transaction_.__table__()
        cursor = Transaction().connection.cursor()
        remaining = Transaction_.remaining_query(account_ids)
        query = remaining.select(
            remaining.account, remaining.company,
            Literal('expire'), -remaining.remaining,
            remaining.expiry_date, remaining.id,
            Literal(gettext('crm_loyalty.msg_transaction_expired')),
            CurrentTimestamp(), Literal(0),
            where=(remaining.expiry_date < date)
            & (remaining.remaining > 0))
        columns = [line.account, line.company, line.type, line.points,
            line.date, line.award, line.reason,
            line.create_date, line.create_uid]
        cursor.execute(*line.insert(columns, query))
        liable = Program.search([('liability', '=', True)])
        if liable:
            Transaction_.book(Transaction_.search([
                        ('account', 'in', account_ids),
                        ('account.program', 'in', [p.id for p in liable]),
                        ('type', '=', 'expire'),
                        ('move', '=', None),
                        ]))
        cls.update_balances(account_ids)

    @classmethod
    def evaluate_tiers(cls, accounts=None, date=None):
        """Give each account the tier that its program's window qualifies
        for; a tier that never downgrades is kept"""
        pool = Pool()
        Date = pool.get('ir.date')
        Program = pool.get('crm.loyalty.program')
        Transaction_ = pool.get('crm.loyalty.transaction')
        if date is None:
            date = Date.today()
        account = cls.__table__()
        line = Transaction_.__table__()
        cursor = Transaction().connection.cursor()
        changes = defaultdict(list)
        for program in Program.search([('tiers', '!=', None)]):
            start = date - dt.timedelta(days=program.tier_window_days)
            if program.tier_basis == 'points':
                # points taken back count against the tier, spent ones not
                value = Sum(line.points)
                kinds = ['earn', 'referral', 'adjust', 'clawback']
            else:
                value = Sum(Coalesce(line.amount, 0))
                kinds = ['earn', 'clawback']
            where = (account.program == program.id)
            if accounts is not None:
                where &= account.id.in_([a.id for a in accounts] or [-1])
            query = account.join(line, 'LEFT',
                condition=(line.account == account.id)
                & (line.date > start) & (line.date <= date)
                & line.type.in_(kinds)
                ).select(account.id, account.tier, Coalesce(value, 0),
                where=where,
                group_by=[account.id, account.tier])
            cursor.execute(*query)
            tiers = {t.id: t for t in program.tiers}
            for account_id, tier_id, reached in cursor:
                tier = program.tier_for(reached)
                current = tiers.get(tier_id)
                if (current and current.downgrade == 'never'
                        and (tier is None
                            or tier.threshold < current.threshold)):
                    continue
                new_id = tier.id if tier else None
                if new_id != tier_id:
                    changes[new_id].append(account_id)
        for tier_id, account_ids in changes.items():
            for sub_ids in grouped_slice(account_ids, backend.MAX_QUERY_PARAMS):
                cursor.execute(*account.update(
                        [account.tier, account.tier_date],
                        [tier_id, date],
                        where=reduce_ids(account.id, sub_ids)))
        changed = [i for ids in changes.values() for i in ids]
        if changed:
            dbtools.clear_cache(cls, changed)
        return changed


class LoyaltyTransaction(ModelSQL, ModelView):
    "Loyalty Transaction"
    __name__ = 'crm.loyalty.transaction'

    account = fields.Many2One(
        'crm.loyalty.account', "Account", required=True,
        ondelete='RESTRICT', readonly=True)
    company = fields.Many2One(
        'company.company', "Company", required=True, readonly=True)
    party = fields.Function(
        fields.Many2One(
            'party.party', "Customer",
            context={
                'company': Eval('company', -1),
                },
            depends={'company'}),
        'get_party', searcher='search_party')
    type = fields.Selection(TYPES, "Type", required=True, readonly=True)
    points = fields.Integer(
        "Points", required=True, readonly=True,
        domain=[('points', '!=', 0)])
    date = fields.Date("Date", required=True, readonly=True)
    expiry_date = fields.Date(
        "Expires", readonly=True,
        states={
            'invisible': Eval('points', 0) < 0,
            })
    amount = fields.Numeric(
        "Amount", digits=(16, 2), readonly=True,
        help="The invoiced amount, in the program's currency, that earned "
        "or lost the points.")
    origin = fields.Reference(
        "Origin", selection='get_origin', readonly=True)
    award = fields.Many2One(
        'crm.loyalty.transaction', "Award", readonly=True,
        ondelete='RESTRICT',
        states={
            'invisible': ~Eval('award'),
            },
        help="The points that this spending takes: the award that expired "
        "or that the credit note takes back.")
    reverses = fields.Many2One(
        'crm.loyalty.transaction', "Reverses", readonly=True,
        ondelete='RESTRICT',
        states={
            'invisible': ~Eval('reverses'),
            })
    reason = fields.Char("Reason", readonly=True)
    employee = fields.Many2One(
        'company.employee', "Employee", readonly=True, ondelete='RESTRICT')
    remaining_points = fields.Function(
        fields.Integer(
            "Unspent",
            states={
                'invisible': Eval('points', 0) < 0,
                },
            help="The points of the award not yet redeemed or expired, "
            "spent the oldest first."),
        'get_remaining_points')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('award_expire_once', Exclude(t, (t.award, Equal),
                    where=t.type == 'expire'),
                'crm_loyalty.msg_transaction_award_unique'),
            ('reverses_unique', Unique(t, t.reverses),
                'crm_loyalty.msg_transaction_reverses_unique'),
            # a document earns or is clawed back once per account (and
            # award)
            ('origin_once', Exclude(t,
                    (t.account, Equal), (t.type, Equal), (t.origin, Equal),
                    (Coalesce(t.award, 0), Equal),
                    where=t.type.in_(['earn', 'clawback', 'referral'])),
                'crm_loyalty.msg_transaction_origin_once'),
            ]
        cls._sql_indexes.update({
                Index(t,
                    (t.account, Index.Range()),
                    (t.date, Index.Range())),
                Index(t, (t.origin, Index.Equality()),
                    where=t.origin != Null),
                Index(t,
                    (t.expiry_date, Index.Range()),
                    where=(t.points > 0) & (t.expiry_date != Null)),
                })
        cls.__access__.add('account')
        cls._order = [('date', 'DESC'), ('id', 'DESC')]
        cls._buttons.update({
                'reverse': {
                    'invisible': (
                        Eval('type').in_(['expire'])
                        | Eval('reverses')),
                    'depends': ['type', 'reverses'],
                    },
                })

    @staticmethod
    def default_date():
        return Pool().get('ir.date').today()

    @classmethod
    def _get_origin(cls):
        "Return the models that can be the origin of points"
        return ['account.invoice', 'sale.sale', 'crm.loyalty.account']

    @classmethod
    def get_origin(cls):
        pool = Pool()
        IrModel = pool.get('ir.model')
        selection = [(None, '')]
        for model in cls._get_origin():
            try:
                pool.get(model)
            except KeyError:
                # the module of the model is not activated
                continue
            selection.append((model, IrModel.get_name(model)))
        return selection

    def get_party(self, name):
        return self.account.party.id

    @classmethod
    def search_party(cls, name, clause):
        return [('account.party' + clause[0][len(name):], *clause[1:])]

    def get_rec_name(self, name):
        type_ = dict(self.__class__.type.selection).get(self.type, '')
        return f'{self.account.rec_name}: {type_} {self.points:+d}'

    @classmethod
    def remaining_query(cls, account_ids=None):
        """A query of the awards (positive transactions) with their unspent
        points (remaining): a spending aimed at an award (its expiry, the
        clawback of the invoice that earned it) takes from that award, the
        other spendings of the account take from the awards first in, first
        out (by expiry date, then date); of the accounts when given (at most
        MAX_QUERY_PARAMS of them)"""
        line = cls.__table__()
        where = Literal(True)
        if account_ids is not None:
            where = reduce_ids(line.account, account_ids)
        # what the spendings aimed at each award took of it: the award and
        # its aimed spendings share the partition of the award's id
        taken = Sum(Case((line.points < 0, -line.points), else_=0),
            window=Window([Coalesce(line.award, line.id)]))
        lines = line.select(
            line.id, line.account, line.company, line.points,
            line.expiry_date, line.date, line.award, taken.as_('taken'),
            where=where)
        award = lines.points > 0
        available = Greatest(0, lines.points - lines.taken)
        # the untargeted spendings, and what aimed spendings took beyond
        # their award
        spent = Sum(
            Case(((lines.points < 0) & (lines.award == Null), -lines.points),
                (award, Greatest(0, lines.taken - lines.points)),
                else_=0),
            window=Window([lines.account]))
        available_before = Sum(Case((award, available), else_=0),
            window=Window([lines.account],
                order_by=[
                    Coalesce(lines.expiry_date, dt.date.max).asc,
                    lines.date.asc, lines.id.asc]))
        query = lines.select(
            lines.id, lines.account, lines.company, lines.points,
            lines.expiry_date,
            available.as_('available'), spent.as_('spent'),
            available_before.as_('available_before'))
        return query.select(
            query.id, query.account, query.company, query.expiry_date,
            Greatest(0, Least(query.available,
                    query.available_before - query.spent)).as_('remaining'),
            where=query.points > 0)

    @classmethod
    def remaining(cls, account_ids):
        "Yield (account, expiry date, unspent points) of the awards"
        cursor = Transaction().connection.cursor()
        query = cls.remaining_query()
        for sub_ids in grouped_slice(account_ids, backend.MAX_QUERY_PARAMS):
            cursor.execute(*query.select(
                    query.account, query.expiry_date, query.remaining,
                    where=reduce_ids(query.account, sub_ids)))
            yield from cursor

    @classmethod
    def get_remaining_points(cls, transactions, name):
        cursor = Transaction().connection.cursor()
        query = cls.remaining_query()
        result = {t.id: None for t in transactions}
        accounts = {t.account.id for t in transactions}
        for sub_ids in grouped_slice(accounts, backend.MAX_QUERY_PARAMS):
            cursor.execute(*query.select(query.id, query.remaining,
                    where=reduce_ids(query.account, sub_ids)))
            for id_, remaining in cursor:
                if id_ in result:
                    result[id_] = remaining
        return result

    @classmethod
    def preprocess_values(cls, mode, values):
        pool = Pool()
        Account = pool.get('crm.loyalty.account')
        values = super().preprocess_values(mode, values)
        if mode == 'create' and values.get('account') is not None:
            values['company'] = Account(values['account']).company.id
        return values

    @classmethod
    def check_modification(
            cls, mode, transactions, values=None, external=False):
        super().check_modification(
            mode, transactions, values=values, external=external)
        if mode in {'write', 'delete'}:
            raise AccessError(gettext(
                    'crm_loyalty.msg_transaction_modify',
                    transaction=transactions[0].rec_name))

    @classmethod
    def on_modification(cls, mode, transactions, field_names=None):
        """Posted: the accounts are locked, their balances follow and a
        spending never takes an account below zero"""
        pool = Pool()
        Account = pool.get('crm.loyalty.account')
        super().on_modification(mode, transactions, field_names=field_names)
        if mode != 'create':
            return
        account_ids = sorted({t.account.id for t in transactions})
        Account.serialize(account_ids)
        Account.update_balances(account_ids)
        posted = defaultdict(int)
        spending = set()
        for transaction in transactions:
            posted[transaction.account.id] += transaction.points
            if transaction.points < 0 and transaction.type in {
                    'redeem', 'adjust'}:
                spending.add(transaction.account.id)
        for account in Account.browse(sorted(spending)):
            if account.balance < 0:
                raise BalanceError(gettext(
                        'crm_loyalty.msg_balance_negative',
                        account=account.rec_name,
                        balance=account.balance - posted[account.id],
                        points=-posted[account.id]))

    @classmethod
    def copy(cls, transactions, default=None):
        if transactions:
            raise AccessError(gettext('crm_loyalty.msg_transaction_copy'))
        return super().copy(transactions, default=default)

    @classmethod
    @ModelView.button
    def reverse(cls, transactions):
        "Post the opposite of each transaction"
        pool = Pool()
        User = pool.get('res.user')
        employee = User(Transaction().user).employee
        today = pool.get('ir.date').today()
        to_create = []
        for transaction in transactions:
            if transaction.type == 'expire':
                continue
            to_create.append({
                    'account': transaction.account.id,
                    'type': 'adjust',
                    'points': -transaction.points,
                    'date': today,
                    'expiry_date': (
                        transaction.account.program.expiry_date(today)
                        if transaction.points < 0 else None),
                    'reverses': transaction.id,
                    'origin': (str(transaction.origin)
                        if transaction.origin else None),
                    'amount': (-transaction.amount
                        if transaction.amount is not None else None),
                    'reason': gettext(
                        'crm_loyalty.msg_transaction_reversal',
                        transaction=transaction.rec_name),
                    'employee': employee.id if employee else None,
                    })
        if to_create:
            cls.create(to_create)


class Adjust(Wizard):
    "Adjust Loyalty Points"
    __name__ = 'crm.loyalty.adjust'
    start = StateView('crm.loyalty.adjust.start',
        'crm_loyalty.adjust_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Post", 'post', 'tryton-ok', default=True),
            ])
    post = StateTransition()

    def default_start(self, fields):
        pool = Pool()
        Date = pool.get('ir.date')
        account = self.record
        return {
            'account': account.id,
            'balance': account.balance,
            'expiry_date': account.program.expiry_date(Date.today()),
            }

    def transition_post(self):
        pool = Pool()
        Date = pool.get('ir.date')
        Transaction_ = pool.get('crm.loyalty.transaction')
        User = pool.get('res.user')
        employee = User(Transaction().user).employee
        if (self.start.points > 0 and self.start.expiry_date
                and self.start.expiry_date <= Date.today()):
            raise ValidationError(gettext(
                    'crm_loyalty.msg_adjust_expiry_past',
                    account=self.record.rec_name))
        Transaction_.create([{
                    'account': self.record.id,
                    'type': 'adjust',
                    'points': self.start.points,
                    'reason': self.start.reason,
                    'expiry_date': (
                        self.start.expiry_date
                        if self.start.points > 0 else None),
                    'employee': employee.id if employee else None,
                    }])
        return 'end'


class AdjustStart(ModelView):
    "Adjust Loyalty Points"
    __name__ = 'crm.loyalty.adjust.start'

    account = fields.Many2One(
        'crm.loyalty.account', "Account", readonly=True)
    balance = fields.Integer("Balance", readonly=True)
    points = fields.Integer(
        "Points", required=True,
        domain=[('points', '!=', 0)],
        help="Positive to give points, negative to take them.")
    reason = fields.Char(
        "Reason", required=True,
        help="Why the points change; kept on the ledger.")
    expiry_date = fields.Date(
        "Expires",
        states={
            'invisible': Eval('points', 0) < 0,
            },
        help="When the points given expire; leave empty for never.")
