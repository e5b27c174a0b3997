# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The points of a program as a contract liability in the ledger

Earning defers the value of the points from revenue to the liability
account; redeeming and expiring release it to revenue; a clawback gives it
back to the deferral account. Each transaction keeps its value and its
move; the report compares the value outstanding with the balance of the
liability account at a date."""
from decimal import Decimal

from sql.aggregate import Sum
from sql.conditionals import Coalesce

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.model.exceptions import ValidationError
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval
from trytond.transaction import Transaction, without_check_access


class Program(metaclass=PoolMeta):
    __name__ = 'crm.loyalty.program'

    liability = fields.Boolean(
        "Points as Liability",
        help="Book the value of the points earned as a contract liability, "
        "released to revenue when they are redeemed or expire.")
    point_value = fields.Numeric(
        "Point Value", digits=(16, 6),
        domain=['OR',
            ('point_value', '=', None),
            ('point_value', '>', 0),
            ],
        states={
            'required': Bool(Eval('liability')),
            'invisible': ~Eval('liability'),
            },
        help="The value of one point in the program's currency.")
    journal = fields.Many2One(
        'account.journal', "Journal",
        states={
            'required': Bool(Eval('liability')),
            'invisible': ~Eval('liability'),
            })
    liability_account = fields.Many2One(
        'account.account', "Liability Account",
        domain=[
            ('company', '=', Eval('company', -1)),
            ('closed', '!=', True),
            ('type.statement', '=', 'balance'),
            ],
        states={
            'required': Bool(Eval('liability')),
            'invisible': ~Eval('liability'),
            })
    deferral_account = fields.Many2One(
        'account.account', "Deferred Revenue Account",
        domain=[
            ('company', '=', Eval('company', -1)),
            ('closed', '!=', True),
            ],
        states={
            'required': Bool(Eval('liability')),
            'invisible': ~Eval('liability'),
            },
        help="Debited by the value of the points earned (a revenue or "
        "contra-revenue account).")
    release_account = fields.Many2One(
        'account.account', "Released Revenue Account",
        domain=[
            ('company', '=', Eval('company', -1)),
            ('closed', '!=', True),
            ],
        states={
            'required': Bool(Eval('liability')),
            'invisible': ~Eval('liability'),
            },
        help="Credited by the value of the points redeemed or expired, "
        "unless the reward names its own account.")

    @classmethod
    def validate_fields(cls, programs, field_names):
        super().validate_fields(programs, field_names)
        if field_names is None or {'currency', 'liability'} & field_names:
            for program in programs:
                if (program.liability
                        and program.currency != program.company.currency):
                    raise ValidationError(gettext(
                            'crm_loyalty.msg_program_liability_currency',
                            program=program.rec_name,
                            currency=program.company.currency.code))


class Reward(metaclass=PoolMeta):
    __name__ = 'crm.loyalty.reward'

    account = fields.Many2One(
        'account.account', "Credited Account",
        domain=[
            ('company', '=', Eval('company', -1)),
            ('closed', '!=', True),
            ],
        help="For a program that books its points as a liability: credited "
        "instead of the program's released revenue account "
        "when the reward is redeemed, e.g. the gift card liability for a "
        "gift card reward.")


class LoyaltyTransaction(metaclass=PoolMeta):
    __name__ = 'crm.loyalty.transaction'

    value = Monetary(
        "Value", currency='currency', digits='currency', readonly=True,
        states={
            'invisible': ~Eval('move'),
            },
        help="The value of the points in the liability account.")
    move = fields.Many2One(
        'account.move', "Move", readonly=True, ondelete='RESTRICT',
        states={
            'invisible': ~Eval('move'),
            })
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"),
        'get_currency')

    def get_currency(self, name):
        return self.account.program.currency.id

    @classmethod
    def on_modification(cls, mode, transactions, field_names=None):
        super().on_modification(mode, transactions, field_names=field_names)
        if mode == 'create':
            cls.book(transactions)

    @classmethod
    def book(cls, transactions):
        "Post the moves of the transactions of programs with a liability"
        pool = Pool()
        Move = pool.get('account.move')
        moves = []
        to_save = []
        with without_check_access():
            for transaction in transactions:
                program = transaction.account.program
                if (not program.liability or transaction.move
                        or transaction.points == 0):
                    continue
                move = transaction._get_move()
                moves.append(move)
                transaction.move = move
                transaction.value = program.currency.round(
                    program.point_value * transaction.points)
                to_save.append(transaction)
            if moves:
                Move.save(moves)
                cls.write_moves(to_save)
                Move.post(moves)

    @classmethod
    def write_moves(cls, transactions):
        "Store the move and value of the posted transactions, in SQL"
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        for transaction in transactions:
            cursor.execute(*table.update(
                    [table.move, table.value],
                    [transaction.move.id, transaction.value],
                    where=table.id == transaction.id))

    def _get_move(self):
        "The move that books the value of the points"
        pool = Pool()
        Date = pool.get('ir.date')
        Move = pool.get('account.move')
        Period = pool.get('account.period')
        program = self.account.program
        company = program.company
        with Transaction().set_context(company=company.id):
            today = Date.today()
        date = self.date if self.points > 0 else max(self.date, today)
        if self.type == 'expire':
            date = today
        period = Period.find(company, date=date)
        amount = program.currency.round(abs(program.point_value * self.points))
        if self.points > 0:
            debit, credit = program.deferral_account, program.liability_account
        else:
            debit = program.liability_account
            if self.type == 'clawback':
                credit = program.deferral_account
            elif (self.type == 'redeem' and self.reward
                    and self.reward.account):
                credit = self.reward.account
            else:
                credit = program.release_account
        move = Move(
            company=company, period=period, journal=program.journal,
            date=date, origin=self,
            description=self.reason or self.account.number)
        move.lines = [
            self._move_line(debit, amount, 0),
            self._move_line(credit, 0, amount),
            ]
        return move

    def _move_line(self, account, debit, credit):
        pool = Pool()
        Line = pool.get('account.move.line')
        line = Line(account=account, debit=debit, credit=credit)
        if account.party_required:
            line.party = self.account.party
        return line


class Move(metaclass=PoolMeta):
    __name__ = 'account.move'

    @classmethod
    def _get_origin(cls):
        return super()._get_origin() + ['crm.loyalty.transaction']


class LiabilityContext(ModelView):
    "Loyalty Liability Context"
    __name__ = 'crm.loyalty.liability.context'

    company = fields.Many2One('company.company', "Company", required=True)
    date = fields.Date("Date", required=True)

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_date(cls):
        return Pool().get('ir.date').today()


class Liability(ModelSQL, ModelView):
    "Loyalty Liability"
    __name__ = 'crm.loyalty.liability'

    program = fields.Many2One('crm.loyalty.program', "Program")
    company = fields.Many2One('company.company', "Company")
    currency = fields.Many2One('currency.currency', "Currency")
    points = fields.Integer(
        "Points Outstanding",
        help="The points of the ledger at the date.")
    value = Monetary(
        "Value Outstanding", currency='currency', digits='currency',
        help="The value of the outstanding points as booked.")
    account_balance = fields.Function(Monetary(
            "Account Balance", currency='currency', digits='currency',
            help="The credit balance of the liability account at the date, "
            "from its posted moves."),
        'get_account_balance')
    difference = fields.Function(Monetary(
            "Difference", currency='currency', digits='currency',
            help="The balance of the account less the value outstanding: "
            "what was booked on the account outside the loyalty ledger."),
        'get_account_balance')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('program', 'ASC'), ('id', 'ASC')]

    @classmethod
    def table_query(cls):
        pool = Pool()
        Program = pool.get('crm.loyalty.program')
        LoyaltyTransaction = pool.get('crm.loyalty.transaction')
        context = Transaction().context
        date = context.get('date') or pool.get('ir.date').today()
        program = Program.__table__()
        line = LoyaltyTransaction.__table__()
        account = pool.get('crm.loyalty.account').__table__()
        return program.join(account, 'LEFT',
            condition=account.program == program.id
            ).join(line, 'LEFT',
            condition=(line.account == account.id) & (line.date <= date)
            ).select(
                program.id.as_('id'),
                program.id.as_('program'),
                program.company.as_('company'),
                program.currency.as_('currency'),
                Coalesce(Sum(line.points), 0).as_('points'),
                Coalesce(Sum(line.value), 0).as_('value'),
                where=(program.liability == True)  # noqa: E712
                & (program.company == context.get('company', -1)),
                group_by=[program.id, program.company, program.currency])

    @classmethod
    def get_account_balance(cls, records, names):
        pool = Pool()
        Line = pool.get('account.move.line')
        Move = pool.get('account.move')
        context = Transaction().context
        date = context.get('date') or pool.get('ir.date').today()
        line = Line.__table__()
        move = Move.__table__()
        cursor = Transaction().connection.cursor()
        balances = {}
        for record in records:
            account = record.program.liability_account
            if not account:
                balances[record.id] = Decimal(0)
                continue
            cursor.execute(*line.join(move,
                    condition=line.move == move.id).select(
                    Coalesce(Sum(line.credit - line.debit), 0),
                    where=(line.account == account.id)
                    & (move.date <= date) & (move.state == 'posted')))
            balance, = cursor.fetchone()
            balances[record.id] = record.currency.round(Decimal(balance))
        result = {}
        if 'account_balance' in names:
            result['account_balance'] = balances
        if 'difference' in names:
            result['difference'] = {
                r.id: balances[r.id] - (r.value or 0) for r in records}
        return result

