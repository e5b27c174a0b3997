# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import csv
import datetime as dt
import hashlib
import io
import re
import zipfile
from decimal import Decimal, InvalidOperation
from itertools import islice

from sql import Literal
from sql.functions import CurrentTimestamp

from trytond import backend
from trytond.i18n import gettext
from trytond.model import (
    Index, ModelSQL, ModelView, Unique, Workflow, fields, sequence_ordered)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If
from trytond.tools import grouped_slice
from trytond.transaction import (
    Transaction, check_access, inactive_records, without_check_access)

from . import dbtools
from .dbtools import analyze_grown, insert_as_create
from .duplicate import email_key
from .exceptions import LeadImportError
from .lead_capture import valid_email

try:
    import openpyxl
except ImportError:
    openpyxl = None
try:
    import phonenumbers
    from phonenumbers import NumberParseException, PhoneNumberFormat
except ImportError:
    phonenumbers = None

# Rows per queued task: one task is one transaction
BATCH_SIZE = 10000
# Records of one browse, a prefetch unit
BROWSE_SIZE = 1000
# The columns of a file at most: a lead has far fewer fields
MAX_COLUMNS = 256
# The rows with broken quoting reported before the file is refused: each
# one is read again to the end of the file
MAX_BAD_ROWS = 100
# The control characters refused in the cells (tab, line feed and carriage
# return are blanks)
_control = re.compile('[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]')

TARGETS = [
    (None, ""),
    ('external_id', "External ID"),
    ('title', "Lead Title"),
    ('company_name', "Company Name"),
    ('contact_name', "Contact Name"),
    ('email', "E-mail"),
    ('phone', "Phone"),
    ('street', "Street"),
    ('postal_code', "Postal Code"),
    ('city', "City"),
    ('country', "Country"),
    ('amount', "Amount"),
    ('expected_closing', "Expected Closing"),
    ('salesperson', "Salesperson"),
    ('team', "Team"),
    ('tags', "Tags"),
    ('description', "Description"),
    ]
# The header names (normalised) recognised for each target
SYNONYMS = {
    'external_id': {
        'external id', 'id', 'reference', 'ref', 'lead id', 'import id'},
    'title': {
        'title', 'lead', 'lead name', 'lead title', 'subject', 'topic',
        'opportunity'},
    'company_name': {
        'company', 'company name', 'organization', 'organisation',
        'account', 'business'},
    'contact_name': {
        'name', 'contact', 'contact name', 'full name', 'person'},
    'email': {'email', 'e mail', 'email address', 'e mail address', 'mail'},
    'phone': {
        'phone', 'telephone', 'tel', 'mobile', 'phone number', 'mobile phone'},
    'street': {'street', 'address', 'street address', 'address line 1'},
    'postal_code': {'zip', 'zip code', 'postal code', 'postcode', 'post code'},
    'city': {'city', 'town', 'locality'},
    'country': {'country', 'country code', 'nation'},
    'amount': {
        'amount', 'value', 'revenue', 'expected revenue', 'deal value',
        'budget'},
    'expected_closing': {
        'expected closing', 'closing', 'closing date', 'close date',
        'expected close date', 'expected closing date'},
    'salesperson': {
        'salesperson', 'sales person', 'salesman', 'owner', 'employee',
        'sales rep'},
    'team': {'team', 'sales team'},
    'tags': {'tags', 'tag', 'labels', 'label'},
    'description': {
        'description', 'notes', 'note', 'comment', 'comments', 'message'},
    }
_header_separators = re.compile(r'[\s_\-.:/]+')


def normalize_header(value):
    "The header name as compared with the synonyms"
    return _header_separators.sub(' ', str(value or '')).strip().lower()


def guess_target(header):
    "Return the target of the column header or None"
    header = normalize_header(header)
    for target, names in SYNONYMS.items():
        if header in names:
            return target


class BadRow:
    "A row of the file that cannot be read, with the reason"
    __slots__ = ('reason',)

    def __init__(self, reason):
        self.reason = reason


def cell_text(value):
    "The cell value as stripped text"
    if value.__class__ is str:
        # The cells of a CSV file
        return ' '.join(value.split())
    if value is None:
        return ''
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        value = value.date()
    return ' '.join(str(value).split())


class LeadImport(Workflow, ModelSQL, ModelView):
    """A CSV or XLSX file of leads: its columns are mapped to lead fields,
    checked row by row, then imported in queued batches."""
    __name__ = 'crm.lead.import'
    __string__ = "CRM Lead Import"

    _states = {
        'readonly': Eval('state') != 'draft',
        }

    company = fields.Many2One(
        'company.company', "Company", required=True, states=_states)
    file = fields.Binary(
        "File", filename='file_name', required=True, states=_states,
        help="A CSV or XLSX file; its first row holds the column names.")
    file_name = fields.Char("File Name", states=_states)
    format = fields.Selection([
            (None, ""),
            ('csv', "CSV"),
            ('xlsx', "XLSX"),
            ], "Format", readonly=True)
    encoding = fields.Selection([
            ('utf-8', "UTF-8"),
            ('cp1252', "Windows-1252"),
            ('latin-1', "ISO-8859-1"),
            ], "Encoding", required=True,
        states={
            'readonly': Eval('state') != 'draft',
            'invisible': Eval('format') == 'xlsx',
            })
    delimiter = fields.Selection([
            (None, "Detect"),
            (',', "Comma"),
            (';', "Semicolon"),
            ('\t', "Tab"),
            ('|', "Vertical Bar"),
            ], "Delimiter",
        states={
            'readonly': Eval('state') != 'draft',
            'invisible': Eval('format') == 'xlsx',
            })
    skip_errors = fields.Boolean(
        "Skip Invalid Rows",
        states={
            'readonly': ~Eval('state').in_(['draft', 'checked']),
            },
        help="Check to import the valid rows and leave out the rows "
        "with errors.")
    columns = fields.One2Many(
        'crm.lead.import.column', 'lead_import', "Columns", states=_states)
    errors = fields.One2Many(
        'crm.lead.import.error', 'lead_import', "Errors", readonly=True)
    rows = fields.Integer("Rows", readonly=True)
    rows_valid = fields.Integer("Valid Rows", readonly=True)
    rows_error = fields.Integer("Rows with Errors", readonly=True)
    rows_imported = fields.Integer("Imported Rows", readonly=True)
    rows_skipped = fields.Integer(
        "Already Imported", readonly=True,
        help="The rows found already imported, from this file or another.")
    rows_done = fields.Integer("Processed Rows", readonly=True)
    batches_done = fields.Char("Batches Done", readonly=True)
    progress = fields.Function(
        fields.Float("Progress", digits=(1, 4)), 'get_progress')
    state = fields.Selection([
            ('draft', "Draft"),
            ('checked', "Checked"),
            ('queued', "Queued"),
            ('running', "Running"),
            ('done', "Done"),
            ('error', "Error"),
            ], "State", required=True, readonly=True, sort=False)
    error_message = fields.Text(
        "Error", readonly=True,
        states={
            'invisible': Eval('state') != 'error',
            },
        help="Why a batch failed; the rows of the batches done are kept.")

    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.state, Index.Equality(cardinality='low')),
                where=t.state.in_(['queued', 'running'])))
        cls._order.insert(0, ('id', 'DESC'))
        cls._transitions |= {
            ('draft', 'checked'),
            ('checked', 'draft'),
            ('checked', 'queued'),
            ('queued', 'running'),
            ('queued', 'done'),
            ('running', 'done'),
            ('queued', 'error'),
            ('running', 'error'),
            ('error', 'queued'),
            ('error', 'draft'),
            ('done', 'draft'),
            }
        cls._buttons.update({
                'draft': {
                    'invisible': ~Eval('state').in_(
                        ['checked', 'done', 'error']),
                    'icon': 'tryton-back',
                    'depends': ['state'],
                    },
                'check': {
                    'invisible': Eval('state') != 'draft',
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                'import_': {
                    'invisible': Eval('state') != 'checked',
                    'icon': If(Eval('rows_error', 0) > 0,
                        'tryton-warning', 'tryton-import'),
                    'depends': ['state', 'rows_error'],
                    },
                'retry': {
                    'invisible': Eval('state') != 'error',
                    'icon': 'tryton-refresh',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_encoding(cls):
        return 'utf-8'

    @classmethod
    def default_skip_errors(cls):
        return False

    @classmethod
    def default_state(cls):
        return 'draft'

    def get_rec_name(self, name):
        return self.file_name or str(self.id)

    def get_progress(self, name):
        if self.state == 'done':
            return 1.0
        if not self.rows:
            return 0.0
        return round((self.rows_done or 0) / self.rows, 4)

    @classmethod
    def copy(cls, imports, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('errors', None)
        default.setdefault('error_message', None)
        for name in ['rows', 'rows_valid', 'rows_error', 'rows_imported',
                'rows_skipped', 'rows_done', 'batches_done']:
            default.setdefault(name, None)
        return super().copy(imports, default=default)

    @classmethod
    def on_modification(cls, mode, imports, field_names=None):
        super().on_modification(mode, imports, field_names=field_names)
        if mode == 'create' or (mode == 'write'
                and {'file', 'encoding', 'delimiter'} & set(field_names)):
            cls._map_columns(imports)

    @classmethod
    def _map_columns(cls, imports):
        "Read the header of the file and guess the column targets"
        pool = Pool()
        Column = pool.get('crm.lead.import.column')
        to_delete, to_create = [], []
        for record in imports:
            format_, header = record._read_header()
            if record.format != format_:
                cls.write([record], {'format': format_})
            previous = {c.header: c.target for c in record.columns}
            to_delete.extend(record.columns)
            used = set()
            for position, name in enumerate(header):
                if name in previous:
                    target = previous[name]
                else:
                    target = guess_target(name)
                if target in used:
                    target = None
                used.add(target)
                to_create.append({
                        'lead_import': record.id,
                        'position': position,
                        'header': name,
                        'target': target,
                        })
        Column.delete(to_delete)
        Column.create(to_create)

    def _detect_format(self):
        data = bytes(self.file or b'')
        if not data.strip():
            raise LeadImportError(gettext(
                    'crm_core.msg_lead_import_empty',
                    file=self.file_name or ''))
        if data.startswith(b'PK\x03\x04'):
            return 'xlsx'
        # The whole file: a NUL byte is no text and no database stores it
        if b'\x00' in data:
            raise LeadImportError(gettext(
                    'crm_core.msg_lead_import_file_type',
                    file=self.file_name or ''))
        return 'csv'

    def _read_header(self):
        format_ = self._detect_format()
        for _, cells in self._read_rows(format_):
            header = [cell_text(c) for c in cells]
            break
        else:
            header = []
        if isinstance(cells, BadRow) or not any(header):
            raise LeadImportError(gettext(
                    'crm_core.msg_lead_import_no_header',
                    file=self.file_name or ''))
        # Bounded by the last named column
        while not header[-1]:
            header.pop()
        if len(header) > MAX_COLUMNS:
            raise LeadImportError(gettext(
                    'crm_core.msg_lead_import_too_many_columns',
                    file=self.file_name or '', count=len(header),
                    limit=MAX_COLUMNS))
        return format_, header

    def _read_rows(self, format_=None):
        """Yield (line number, cells) of the non-empty rows, header first

        cells is a BadRow for a row that cannot be read."""
        # The whole file is checked each time it is read
        detected = self._detect_format()
        format_ = format_ or self.format or detected
        if format_ == 'xlsx':
            yield from self._read_xlsx()
        else:
            yield from self._read_csv()

    def _read_csv(self):
        data = bytes(self.file)
        encoding = self.encoding or 'utf-8'
        if encoding == 'utf-8':
            encoding = 'utf-8-sig'
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exception:
            line = data[:exception.start].count(b'\n') + 1
            raise LeadImportError(gettext(
                    'crm_core.msg_lead_import_decode',
                    file=self.file_name or '', line=line,
                    encoding=self.encoding)) from exception
        delimiter = self.delimiter
        if not delimiter:
            try:
                delimiter = csv.Sniffer().sniff(
                    text[:8192], delimiters=',;\t|').delimiter
            except csv.Error:
                delimiter = ','
        # Split as the csv module does, at \r, \n and \r\n only
        lines = io.StringIO(text, newline='').readlines()
        start, bad = 0, 0
        while start < len(lines):
            # strict: an unclosed or misplaced quote is an error, not a
            # cell that swallows the next lines
            reader = csv.reader(islice(lines, start, None),
                delimiter=delimiter, strict=True)
            line = start + 1
            try:
                for cells in reader:
                    # The first line is the header, even blank
                    if line == 1 or any(c.strip() for c in cells):
                        yield line, cells
                    line = start + reader.line_num + 1
            except csv.Error as exception:
                bad += 1
                if line == 1 or bad > MAX_BAD_ROWS:
                    raise LeadImportError(gettext(
                            'crm_core.msg_lead_import_csv',
                            file=self.file_name or '', line=line,
                            error=str(exception))) from exception
                # The row is reported; the reading goes on at its next line
                yield line, BadRow(gettext(
                        'crm_core.msg_lead_import_reason_quote',
                        error=str(exception)))
                start = line
            else:
                break

    def _read_xlsx(self):
        try:
            workbook = openpyxl.load_workbook(
                io.BytesIO(bytes(self.file)), read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError,
                TypeError) as exception:
            raise LeadImportError(gettext(
                    'crm_core.msg_lead_import_file_type',
                    file=self.file_name or '')) from exception
        try:
            sheet = workbook.worksheets[0]
            # The declared dimension is not trusted: the real cells are read
            sheet.reset_dimensions()
            header = next(sheet.iter_rows(
                    max_row=1, values_only=True), ())
            width = len(header)
            while width and (header[width - 1] is None
                    or not str(header[width - 1]).strip()):
                width -= 1
            yield 1, list(header[:width])
            if not width:
                return
            # The data rows bounded by the named columns
            for line, cells in enumerate(sheet.iter_rows(
                        min_row=2, max_col=width, values_only=True), 2):
                if any(c is not None and str(c).strip() for c in cells):
                    yield line, list(cells)
        finally:
            workbook.close()

    def _data_rows(self, start=0, stop=None):
        "Yield (line number, cells) of the data rows from start to stop"
        rows = self._read_rows()
        next(rows, None)
        yield from islice(rows, start, stop)

    def _mapping(self):
        "Return {target: position} of the mapped columns"
        return {c.target: c.position for c in self.columns if c.target}

    def _headers(self):
        return {c.target: c.header for c in self.columns if c.target}

    @classmethod
    @ModelView.button
    @Workflow.transition('draft')
    def draft(cls, imports):
        pool = Pool()
        Error = pool.get('crm.lead.import.error')
        Error.delete([e for i in imports for e in i.errors])
        cls.write(imports, {
                'error_message': None,
                'rows': None,
                'rows_valid': None,
                'rows_error': None,
                'rows_imported': None,
                'rows_skipped': None,
                'rows_done': None,
                'batches_done': None,
                })

    @classmethod
    @ModelView.button
    @Workflow.transition('checked')
    def check(cls, imports):
        "Validate every row and list the errors (a dry run)"
        pool = Pool()
        Error = pool.get('crm.lead.import.error')
        Error.delete([e for i in imports for e in i.errors])
        for record in imports:
            mapping = record._mapping()
            if not ({'title', 'company_name', 'contact_name'} & set(mapping)):
                raise LeadImportError(gettext(
                        'crm_core.msg_lead_import_no_name_column',
                        file=record.rec_name))
            checker = LeadImportChecker(record, normalize=False)
            errors, rows, valid, keys = [], 0, 0, set()
            for rows_, (line, cells) in enumerate(record._data_rows(), 1):
                rows = rows_
                values, row_errors = checker.check(line, cells)
                if row_errors:
                    errors.extend(row_errors)
                else:
                    valid += 1
                    keys.add(values['import_key'])
            # The rows repeated in the file or imported before
            skipped = valid - len(keys) + len(record._imported_keys(keys))
            record._store_errors(errors)
            cls.write([record], {
                    'rows': rows,
                    'rows_valid': valid,
                    'rows_error': len({e[0] for e in errors}),
                    'rows_skipped': skipped,
                    'rows_imported': 0,
                    'rows_done': 0,
                    'batches_done': None,
                    })

    def _store_errors(self, errors, known=()):
        "Store the errors (line, column, value, reason) not known yet"
        pool = Pool()
        Error = pool.get('crm.lead.import.error')
        errors = [e for e in errors if (e[0], e[1], e[3]) not in known]
        for sub_errors in grouped_slice(errors, 1000):
            Error.create([{
                        'lead_import': self.id,
                        'line': line,
                        'column': column,
                        'value': value[:200],
                        'reason': reason,
                        } for line, column, value, reason in sub_errors])

    def _imported_keys(self, keys):
        "Return the keys among keys of the leads already imported"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        table = Opportunity.__table__()
        cursor = Transaction().connection.cursor()
        found = set()
        for sub_keys in grouped_slice(list(keys), 1000):
            # An array is hashed when the statistics of a table growing by
            # the batches still make the planner scan it
            in_keys = dbtools.in_values(table.import_key, sub_keys)
            cursor.execute(*table.select(table.import_key,
                    where=(table.company == self.company.id) & in_keys))
            found.update(k for k, in cursor)
        return found

    @classmethod
    @ModelView.button
    @Workflow.transition('queued')
    def import_(cls, imports):
        "Queue the import of the valid rows in batches"
        for record in imports:
            if record.rows_error and not record.skip_errors:
                first = record.errors[0] if record.errors else None
                raise LeadImportError(gettext(
                        'crm_core.msg_lead_import_has_errors',
                        file=record.rec_name,
                        count=record.rows_error,
                        line=first.line if first else '',
                        reason=first.reason if first else ''))
        # The state must be stored before the tasks run; the batches count
        # again the rows found already imported
        cls.write(imports, {
                'state': 'queued',
                'rows_imported': 0,
                'rows_skipped': 0,
                'rows_done': 0,
                'batches_done': None,
                })
        for record in imports:
            for start in range(0, record.rows or 0, BATCH_SIZE):
                cls.__queue__.import_batch(
                    [record], start, start + BATCH_SIZE)
            if not record.rows:
                cls.write([record], {'state': 'done'})

    @classmethod
    def import_batch(cls, imports, start, stop):
        """Import the valid rows from start to stop

        Idempotent: a batch already done is ignored, a row already imported
        is skipped; the batch is one transaction so no row is partial.
        Run as the user who imported (the queue keeps the user): the rows
        asking what the user may not create are errors. A batch that fails
        puts the import in error with the reason, its rows rolled back."""
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        ModelAccess = pool.get('ir.model.access')
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cls.lock(imports)
        for record in cls.browse(imports):
            done = set(filter(None, (record.batches_done or '').split(',')))
            if (record.state not in {'queued', 'running'}
                    or str(start) in done):
                continue
            try:
                with dbtools.savepoint('crm_lead_import_batch'), \
                        Transaction().set_context(
                            company=record.company.id,
                            _check_access=False, _skip_warnings=True):
                    with check_access():
                        ModelAccess.check(Opportunity.__name__, 'create')
                    count, valid, imported, errors = record._import_rows(
                        start, stop)
            except backend.DatabaseOperationalError:
                # A lock or a serialization failure: the task is retried
                raise
            except Exception as exception:
                record = cls(record.id)
                error = str(getattr(exception, 'message', '') or exception)
                cls.write([record], {
                        'error_message': gettext(
                            'crm_core.msg_lead_import_batch_failed',
                            start=start + 1, stop=min(stop, record.rows or 0),
                            error=error.splitlines()[0][:500]
                            if error else type(exception).__name__),
                        })
                cls.fail([record])
                continue
            # Errors found now (e.g. a salesperson removed since the check)
            record._store_errors(errors,
                known={(e.line, e.column, e.reason) for e in record.errors})
            done.add(str(start))
            # The counters under the lock of the import, in one statement
            cursor.execute(*table.update([
                        table.rows_imported, table.rows_skipped,
                        table.rows_done, table.batches_done,
                        table.write_date, table.write_uid],
                    [table.rows_imported + imported,
                        table.rows_skipped + valid - imported,
                        table.rows_done + count,
                        ','.join(sorted(done, key=int)),
                        CurrentTimestamp(), Transaction().user],
                    where=table.id == record.id))
            dbtools.clear_cache(cls, [record.id])
            record = cls(record.id)
            if record.rows_done >= (record.rows or 0):
                cls.done([record])
            elif record.state == 'queued':
                cls.run([record])

    def _import_rows(self, start, stop):
        """Check and import the rows from start to stop

        Return the counts of rows, of valid rows, of imported rows and the
        errors."""
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        checker = LeadImportChecker(self)
        rows, errors, keys, count, valid = [], [], set(), 0, 0
        for line, cells in self._data_rows(start, stop):
            count += 1
            values, row_errors = checker.check(line, cells)
            if row_errors:
                errors.extend(row_errors)
                continue
            valid += 1
            if values['import_key'] not in keys:
                keys.add(values['import_key'])
                rows.append(values)
        imported = self._imported_keys(keys)
        to_import = [r for r in rows if r['import_key'] not in imported]
        ids, refused = Opportunity.import_leads(self, to_import)
        errors.extend(refused)
        valid -= len(refused)
        return count, valid, len(ids), errors

    @classmethod
    @Workflow.transition('running')
    def run(cls, imports):
        pass

    @classmethod
    @Workflow.transition('done')
    def done(cls, imports):
        pass

    @classmethod
    @Workflow.transition('error')
    def fail(cls, imports):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('queued')
    def retry(cls, imports):
        "Queue again the batches not done"
        cls.write(imports, {'error_message': None})
        for record in imports:
            done = set(filter(None, (record.batches_done or '').split(',')))
            for start in range(0, record.rows or 0, BATCH_SIZE):
                if str(start) not in done:
                    cls.__queue__.import_batch(
                        [record], start, start + BATCH_SIZE)

    @classmethod
    def run_queued(cls, imports):
        "Import the rows now, without waiting for the queue"
        for record in imports:
            for start in range(0, record.rows or 0, BATCH_SIZE):
                cls.import_batch([record], start, start + BATCH_SIZE)


class LeadImportChecker:
    "Validate and normalise the rows of a lead import"

    def __init__(self, lead_import, normalize=True):
        """normalize: compute the stored values (the formats of the phone),
        not only check them"""
        pool = Pool()
        Lang = pool.get('ir.lang')
        self.normalize = normalize
        self.lead_import = lead_import
        self.company = lead_import.company
        self.currency = self.company.currency
        self.mapping = lead_import._mapping()
        self.headers = lead_import._headers()
        self.date_format = Lang.get().date
        if 'country' in self.mapping:
            self.countries = self._countries()
        if 'salesperson' in self.mapping:
            self.employees = self._employees()
        if 'team' in self.mapping:
            self.teams = self._teams()
        if 'tags' in self.mapping:
            self.tags = self._tags()
        # Whether the user may create a lead of (team, salesperson)
        self.allowed = {}

    @staticmethod
    def _key(value):
        return ' '.join(str(value).split()).casefold()

    def _countries(self):
        "Return {name or code: (id, code)} in all the translated languages"
        pool = Pool()
        Country = pool.get('country.country')
        Translation = pool.get('ir.translation')
        result = {}
        with without_check_access():
            countries = Country.search([])
            by_id = {c.id: c for c in countries}
            for country in countries:
                for value in [country.name, country.code, country.code3]:
                    if value:
                        result.setdefault(
                            self._key(value), (country.id, country.code))
            translations = Translation.search([
                    ('name', '=', 'country.country,name'),
                    ('type', '=', 'model'),
                    ('value', '!=', ''),
                    ])
            for translation in translations:
                country = by_id.get(translation.res_id)
                if country:
                    result.setdefault(
                        self._key(translation.value),
                        (country.id, country.code))
        return result

    def _employees(self):
        pool = Pool()
        Employee = pool.get('company.employee')
        result = {}
        with without_check_access():
            for employee in Employee.search([
                        ('company', '=', self.company.id),
                        ]):
                result.setdefault(self._key(employee.rec_name), employee.id)
        return result

    def _teams(self):
        pool = Pool()
        Team = pool.get('crm.team')
        with without_check_access():
            return {self._key(t.name): t.id for t in Team.search([
                        ('company', '=', self.company.id),
                        ])}

    def _tags(self):
        pool = Pool()
        Tag = pool.get('crm.tag')
        with without_check_access():
            return {self._key(t.name): t.id for t in Tag.search([])}

    def _error(self, target, reason, **kwargs):
        return gettext('crm_core.msg_lead_import_reason_%s' % reason,
            column=self.headers.get(target, ''), **kwargs)

    def check(self, line, cells):
        """Return (values, errors) of the row

        errors is a list of (line, column, value, reason)."""
        if isinstance(cells, BadRow):
            return {'line': line}, [(line, '', '', cells.reason)]
        raw = {}
        for target, position in self.mapping.items():
            raw[target] = cells[position] if position < len(cells) else None
        text = {t: cell_text(v) for t, v in raw.items()}
        values, errors = {}, []

        def error(target, reason, **kwargs):
            errors.append((line, self.headers.get(target, ''),
                    text.get(target, ''),
                    self._error(target, reason, **kwargs)))

        for target, value in text.items():
            if _control.search(value):
                error(target, 'control')
                text[target] = _control.sub('', value)

        for target in ['external_id', 'title', 'company_name',
                'contact_name', 'street', 'postal_code', 'city',
                'description']:
            values[target] = text.get(target, '')
        if not (values['title'] or values['company_name']
                or values['contact_name']):
            error('contact_name' if 'contact_name' in self.mapping
                else 'company_name' if 'company_name' in self.mapping
                else 'title', 'name')

        email = text.get('email', '')
        if email:
            if not valid_email(email):
                error('email', 'email')
            values['email'] = email
            values['email_key'] = email_key(email)

        country = text.get('country', '')
        values['country'] = values['country_code'] = None
        if country:
            found = self.countries.get(self._key(country))
            if found:
                values['country'], values['country_code'] = found
            else:
                error('country', 'country')

        phone = text.get('phone', '')
        if phone:
            values['phone'] = values['phone_compact'] = phone
            if phonenumbers:
                number = self._parse_phone(phone, values['country_code'])
                if number is None:
                    error('phone', 'phone')
                elif self.normalize:
                    values['phone'] = phonenumbers.format_number(
                        number, PhoneNumberFormat.INTERNATIONAL)
                    values['phone_compact'] = phonenumbers.format_number(
                        number, PhoneNumberFormat.E164)

        values['amount'] = None
        if text.get('amount'):
            amount = self._parse_amount(raw['amount'])
            if amount is None or amount < 0:
                error('amount', 'amount')
            else:
                values['amount'] = self.currency.round(amount)

        values['expected_closing'] = None
        if text.get('expected_closing'):
            date = self._parse_date(raw['expected_closing'])
            if date is None:
                error('expected_closing', 'date',
                    format=dt.date(2026, 12, 31).strftime(self.date_format))
            values['expected_closing'] = date

        values['salesperson'] = None
        if text.get('salesperson'):
            values['salesperson'] = self.employees.get(
                self._key(text['salesperson']))
            if not values['salesperson']:
                error('salesperson', 'salesperson')

        values['team'] = None
        if text.get('team'):
            values['team'] = self.teams.get(self._key(text['team']))
            if not values['team']:
                error('team', 'team')

        if values['salesperson'] or values['team']:
            target = 'salesperson' if values['salesperson'] else 'team'
            values['assignment'] = (
                self.headers.get(target, ''), text.get(target, ''))
            if not self._allowed(values['team'], values['salesperson']):
                error(target, 'assignment')

        values['tags'] = []
        if text.get('tags'):
            for name in re.split(r'[,;]', text['tags']):
                if not name.strip():
                    continue
                tag = self.tags.get(self._key(name))
                if tag:
                    values['tags'].append(tag)
                else:
                    error('tags', 'tag', tag=name.strip())

        values['import_key'] = self._import_key(text)
        values['line'] = line
        return values, errors

    def _allowed(self, team, employee):
        "Whether the user may create a lead of the team and salesperson"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        key = (team, employee)
        if key not in self.allowed:
            self.allowed[key] = not Opportunity.crm_forbidden_assignments(
                self.company.id, [key])
        return self.allowed[key]

    @staticmethod
    def _parse_phone(value, country_code):
        for region in [country_code, None]:
            try:
                number = phonenumbers.parse(value, region)
            except NumberParseException:
                continue
            if phonenumbers.is_valid_number(number):
                return number

    @staticmethod
    def _parse_amount(value):
        if isinstance(value, (int, float, Decimal)):
            return Decimal(str(value))
        value = ''.join(str(value).split())
        if ',' in value and '.' not in value:
            value = value.replace(',', '.')
        elif ',' in value:
            value = value.replace(',', '')
        try:
            amount = Decimal(value)
        except InvalidOperation:
            return None
        if not amount.is_finite():
            return None
        return amount

    def _parse_date(self, value):
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        value = str(value).strip()
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
        try:
            return dt.datetime.strptime(value, self.date_format).date()
        except ValueError:
            return None

    def _import_key(self, text):
        "The fingerprint of the row: its external id or its mapped values"
        if text.get('external_id'):
            value = 'id:' + text['external_id']
        else:
            value = '\x1f'.join(
                (text.get(t) or '').casefold() if t == 'email'
                else text.get(t) or ''
                for t, _ in TARGETS if t and t in self.mapping)
        return hashlib.sha256(value.encode('utf-8')).hexdigest()[:40]


class LeadImportColumn(sequence_ordered('position', "Position"),
        ModelSQL, ModelView):
    """A column of the file and the lead field it fills."""
    __name__ = 'crm.lead.import.column'
    __string__ = "CRM Lead Import Column"

    lead_import = fields.Many2One(
        'crm.lead.import', "Import", required=True, ondelete='CASCADE')
    header = fields.Char("Header", readonly=True)
    target = fields.Selection(
        TARGETS, "Field", sort=False,
        help="The lead field the column fills; leave empty to ignore it.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('lead_import')
        cls.position.readonly = True
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.lead_import, Index.Range())))

    @classmethod
    def validate_fields(cls, columns, field_names):
        super().validate_fields(columns, field_names)
        cls.check_target(columns, field_names)

    @classmethod
    def check_target(cls, columns, field_names=None):
        if field_names and 'target' not in field_names:
            return
        for column in columns:
            if not column.target:
                continue
            others = [c for c in column.lead_import.columns
                if c.target == column.target and c != column]
            if others:
                raise LeadImportError(gettext(
                        'crm_core.msg_lead_import_column_twice',
                        column=column.header, other=others[0].header,
                        file=column.lead_import.rec_name))


class LeadImportRowError(ModelSQL, ModelView):
    """A row of the file that cannot be imported and why."""
    __name__ = 'crm.lead.import.error'
    __string__ = "CRM Lead Import Error"

    lead_import = fields.Many2One(
        'crm.lead.import', "Import", required=True, ondelete='CASCADE')
    line = fields.Integer(
        "Line", readonly=True, help="The line number in the file.")
    column = fields.Char("Column", readonly=True)
    value = fields.Char("Value", readonly=True)
    reason = fields.Char("Reason", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('lead_import')
        cls._order = [('line', 'ASC'), ('id', 'ASC')]
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.lead_import, Index.Range()), (t.line, Index.Range())))


class Opportunity(metaclass=PoolMeta):
    __name__ = 'sale.opportunity'

    import_key = fields.Char(
        "Import Key", readonly=True,
        help="The fingerprint of the imported row; the same row is not "
        "imported twice.")
    lead_import = fields.Many2One(
        'crm.lead.import', "Lead Import", readonly=True, ondelete='SET NULL',
        states={
            'invisible': ~Eval('lead_import'),
            })

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('import_key_unique', Unique(t, t.company, t.import_key),
                'crm_core.msg_lead_import_key_unique'),
            ]
        cls._sql_indexes.add(
            Index(t, (t.lead_import, Index.Range()),
                where=t.lead_import != None))  # noqa: E711

    @classmethod
    def copy(cls, opportunities, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('import_key', None)
        default.setdefault('lead_import', None)
        return super().copy(opportunities, default=default)

    @classmethod
    def import_leads(cls, lead_import, rows):
        """Create the leads of the checked rows as create would, in SQL

        The values of each lead go through preprocess_values as in create;
        the rows asking for a salesperson or a team the user may not create
        a lead for are refused. The party with the same e-mail key is
        reused; otherwise the row creates its party, e-mail, phone and
        address. The leads are stored with their history rows, then every
        module's on_modification('create') is called for them.
        Return the ids of the leads and the errors of the refused rows."""
        pool = Pool()
        Party = pool.get('party.party')
        Address = pool.get('party.address')
        ContactMechanism = pool.get('party.contact_mechanism')
        Configuration = pool.get('sale.configuration')
        Stage = pool.get('crm.stage')
        Team = pool.get('crm.team')
        OpportunityTag = pool.get('sale.opportunity-crm.tag')
        if not rows:
            return [], []
        company = lead_import.company

        numbers = []
        configuration = Configuration(1)
        sequence = configuration.get_multivalue(
            'sale_opportunity_sequence', company=company.id)
        if sequence:
            numbers = list(sequence.get_many(len(rows)))
        # The values of each lead as a caller of create gives them
        vlist = []
        with without_check_access():
            for i, row in enumerate(rows):
                values = {
                    'company': company.id,
                    'description': (row['title'] or row['company_name']
                        or row['contact_name']),
                    'comment': row['description'] or None,
                    'amount': row['amount'],
                    'expected_closing': row['expected_closing'],
                    'import_key': row['import_key'],
                    'lead_import': lead_import.id,
                    'capture_channel': 'import',
                    'state': 'lead',
                    }
                if numbers:
                    values['number'] = numbers[i]
                if row['salesperson']:
                    values['employee'] = row['salesperson']
                if row['team']:
                    values['team'] = row['team']
                vlist.append(cls.preprocess_values('create', values))

        # The rights of the user on what each row asks for
        forbidden = cls.crm_forbidden_assignments(company.id, {
                (v.get('team'), v.get('employee')) for v in vlist
                if v.get('team') or v.get('employee')})
        refused = []
        if forbidden:
            reason = gettext('crm_core.msg_lead_import_reason_assignment')
            kept_rows, kept_values = [], []
            for row, values in zip(rows, vlist):
                if (values.get('team'), values.get('employee')) in forbidden:
                    column, text = row.get('assignment') or ('', '')
                    refused.append((row['line'], column, text, reason))
                else:
                    kept_rows.append(row)
                    kept_values.append(values)
            rows, vlist = kept_rows, kept_values
            if not rows:
                return [], refused

        existing = ContactMechanism.crm_parties_by_email(
            {r['email_key'] for r in rows if r.get('email_key')})
        # One new party per e-mail key, or per row without e-mail
        new_parties = {}
        for row in rows:
            if row.get('email_key') in existing:
                continue
            new_parties.setdefault(row.get('email_key') or row['line'], row)
        party_rows = list(new_parties.values())
        codes = []
        sequence = Party._code_sequence()
        if sequence:
            codes = list(sequence.get_many(len(party_rows)))
        party_values = []
        # The values create computes from the code (code_alnum, …)
        computer = Party()
        for i, row in enumerate(party_rows):
            values = {
                'name': (row['company_name'] or row['contact_name']
                    or row['title']),
                }
            if codes:
                values['code'] = computer.code = codes[i]
                values.update(computer.compute_fields({'code'}))
            party_values.append(values)
        party_ids = insert_as_create(Party, party_values)
        party_of = {}
        for row, party_id in zip(party_rows, party_ids):
            party_of[row.get('email_key') or row['line']] = party_id

        address_rows = [r for r in party_rows
            if r['street'] or r['postal_code'] or r['city'] or r['country']]
        address_ids = insert_as_create(Address, [{
                    'party': party_of[r.get('email_key') or r['line']],
                    'street_unstructured': r['street'] or None,
                    'postal_code': r['postal_code'] or None,
                    'city': r['city'] or None,
                    'country': r['country'],
                    } for r in address_rows])
        address_of = {
            r.get('email_key') or r['line']: i
            for r, i in zip(address_rows, address_ids)}

        mechanism_values, mechanism_keys = [], []
        formatter = ContactMechanism(type='email')
        for row in party_rows:
            key = row.get('email_key') or row['line']
            if row.get('email'):
                mechanism_values.append(
                    ContactMechanism.import_values(
                        party_of[key], 'email', row['email'],
                        row['email'], row['email_key'], row['contact_name'],
                        _formatter=formatter))
                mechanism_keys.append((key, 'email'))
            if row.get('phone'):
                mechanism_values.append(
                    ContactMechanism.import_values(
                        party_of[key], 'phone', row['phone'],
                        row['phone_compact'], row['phone_compact'],
                        row['contact_name']))
                mechanism_keys.append((key, 'phone'))
        mechanism_ids = insert_as_create(ContactMechanism, mechanism_values)
        mechanism_of = dict(zip(mechanism_keys, mechanism_ids))

        # The defaults create fills for the fields not given
        stages = {}
        with without_check_access():
            for team in {v.get('team') for v in vlist}:
                stages[team] = Stage.get_first(
                    'lead', Team(team) if team else None)
        for row, values in zip(rows, vlist):
            key = row.get('email_key') or row['line']
            if key in existing:
                values['party'], values['contact'] = existing[key]
                values['address'] = None
            else:
                values['party'] = party_of[key]
                values['contact'] = (mechanism_of.get((key, 'email'))
                    or mechanism_of.get((key, 'phone')))
                values['address'] = address_of.get(key)
            if 'stage' not in values:
                stage = stages[values.get('team')]
                values['stage'] = stage.id if stage else None
                if 'conversion_probability' not in values:
                    values['conversion_probability'] = (stage.probability
                        if stage else cls.default_conversion_probability())
        ids = insert_as_create(cls, vlist)

        insert_as_create(OpportunityTag, [
                {'opportunity': id_, 'tag': tag}
                for id_, row in zip(ids, rows) for tag in row['tags']])
        analyze_grown([Party, Address, ContactMechanism, cls], len(rows))
        # What every module does for a new lead (stage history, assignment,
        # scoring, …)
        dbtools.create_hooks(cls, ids, browse_size=BROWSE_SIZE)
        return ids, refused

    @classmethod
    def crm_forbidden_assignments(cls, company, assignments):
        """Return the (team, employee) of assignments for which the user of
        the transaction may not create a lead of the company

        By the record rules of the leads for creation, as create checks
        them: a lead of each is stored in a savepoint rolled back."""
        pool = Pool()
        Rule = pool.get('ir.rule')
        transaction = Transaction()
        assignments = sorted(assignments, key=lambda a: (a[0] or 0, a[1] or 0))
        if not assignments or not transaction.user:
            return set()
        with check_access():
            domain = Rule.domain_get(cls.__name__, mode='create')
        if not domain:
            return set()
        forbidden = set()
        try:
            with dbtools.savepoint('crm_lead_assignments'), \
                    without_check_access():
                ids = insert_as_create(cls, [{
                            'company': company,
                            'team': team,
                            'employee': employee,
                            'number': '',
                            'state': 'lead',
                            } for team, employee in assignments])
                with transaction.set_user(0), inactive_records():
                    allowed = set(map(int, cls.search([
                                    ('id', 'in', ids),
                                    domain,
                                    ], order=[])))
                forbidden = {a for a, i in zip(assignments, ids)
                    if i not in allowed}
                raise _Probed
        except _Probed:
            pass
        return forbidden


class _Probed(Exception):
    "Rolls back the savepoint of a probe"


class ContactMechanism(metaclass=PoolMeta):
    __name__ = 'party.contact_mechanism'

    @classmethod
    def crm_parties_by_email(cls, keys):
        "Return {e-mail key: (party id, mechanism id)} of the active parties"
        pool = Pool()
        Party = pool.get('party.party')
        mechanism = cls.__table__()
        party = Party.__table__()
        cursor = Transaction().connection.cursor()
        result = {}
        for sub_keys in grouped_slice(sorted(keys), 1000):
            cursor.execute(*mechanism.join(party,
                    condition=mechanism.party == party.id
                    ).select(mechanism.crm_key, mechanism.party, mechanism.id,
                    where=(mechanism.type == 'email')
                    # Repeated for the partial index on crm_key
                    & (mechanism.crm_key != '')
                    & mechanism.crm_key.in_(list(sub_keys))
                    & (mechanism.active == Literal(True))
                    & (party.active == Literal(True)),
                    order_by=[mechanism.party.asc, mechanism.id.asc]))
            for key, party_id, mechanism_id in cursor:
                result.setdefault(key, (party_id, mechanism_id))
        return result

    @classmethod
    def import_values(cls, party, type_, value, compact, key, name=None,
            _formatter=None):
        "The stored values of a new mechanism as create would compute them"
        if type_ == 'email':
            formatter = _formatter or cls(type=type_)
            value = formatter.format_value(value=value, type_=type_)
        return {
            'party': party,
            'type': type_,
            'value': value,
            'value_compact': compact,
            'crm_key': key,
            'name': name or None,
            }
