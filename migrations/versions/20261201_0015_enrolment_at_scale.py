"""enrolment at scale: bulk face imports, the 1:N index change log, duplicate cases

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 21:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0015'
down_revision: Union[str, None] = '0014'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _enum(*values: str, name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=False, length=32)


def _s(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        'face_index_change',
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('face_id', sa.Uuid(), nullable=False),
        sa.Column('joined', sa.Boolean(), nullable=False),
        sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('seq'),
    )
    op.create_index(op.f('ix_face_index_change_face_id'), 'face_index_change', ['face_id'])
    op.create_table(
        'face_import_batch',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('source', _s(255), nullable=False),
        sa.Column('kind', _s(16), nullable=False),
        sa.Column('status', _enum('queued', 'running', 'done', 'failed', name='importstatus'), nullable=False),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('processed', sa.Integer(), nullable=False),
        sa.Column('enrolled', sa.Integer(), nullable=False),
        sa.Column('refused', sa.Integer(), nullable=False),
        sa.Column('skipped', sa.Integer(), nullable=False),
        sa.Column('error', _s(500), nullable=True),
        sa.Column('created_by_type', _s(16), nullable=False),
        sa.Column('created_by_id', _s(64), nullable=False),
        sa.Column('region_scope', _s(6), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'face_import_item',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('batch_id', sa.Uuid(), nullable=False),
        sa.Column('photo_sha256', _s(64), nullable=False),
        sa.Column('national_id', _s(32), nullable=False),
        sa.Column('name', _s(255), nullable=False),
        sa.Column('outcome', _s(32), nullable=False),
        sa.Column('detail', _s(500), nullable=True),
        sa.Column('pensioner_id', sa.Uuid(), nullable=True),
        sa.Column('face_id', sa.Uuid(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['batch_id'], ['face_import_batch.id']),
        sa.ForeignKeyConstraint(['face_id'], ['enrolled_face.id']),
        sa.ForeignKeyConstraint(['pensioner_id'], ['pensioner.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('photo_sha256', 'national_id'),
    )
    op.create_index(op.f('ix_face_import_item_batch_id'), 'face_import_item', ['batch_id'])
    op.create_index(op.f('ix_face_import_item_photo_sha256'), 'face_import_item', ['photo_sha256'])
    outcome = ('same_person', 'relatives', 'data_error')
    op.create_table(
        'duplicate_case',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('pair_key', _s(80), nullable=False),
        sa.Column('earlier_pensioner_id', sa.Uuid(), nullable=False),
        sa.Column('later_pensioner_id', sa.Uuid(), nullable=False),
        sa.Column('earlier_face_id', sa.Uuid(), nullable=False),
        sa.Column('later_face_id', sa.Uuid(), nullable=False),
        sa.Column('distance', sa.Float(), nullable=False),
        sa.Column('threshold', sa.Float(), nullable=False),
        sa.Column('found_by', _s(16), nullable=False),
        sa.Column('status', _enum('open', 'awaiting_second', 'closed', name='duplicatestatus'), nullable=False),
        sa.Column('outcome', _enum(*outcome, name='duplicateoutcome'), nullable=True),
        sa.Column('first_reviewer_id', _s(64), nullable=True),
        sa.Column('first_outcome', _enum(*outcome, name='duplicateoutcome'), nullable=True),
        sa.Column('first_note', _s(1000), nullable=True),
        sa.Column('first_decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('second_reviewer_id', _s(64), nullable=True),
        sa.Column('second_note', _s(1000), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('evidence', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['earlier_face_id'], ['enrolled_face.id']),
        sa.ForeignKeyConstraint(['earlier_pensioner_id'], ['pensioner.id']),
        sa.ForeignKeyConstraint(['later_face_id'], ['enrolled_face.id']),
        sa.ForeignKeyConstraint(['later_pensioner_id'], ['pensioner.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('pair_key'),
    )
    op.create_index(op.f('ix_duplicate_case_earlier_pensioner_id'), 'duplicate_case', ['earlier_pensioner_id'])
    op.create_index(op.f('ix_duplicate_case_later_pensioner_id'), 'duplicate_case', ['later_pensioner_id'])
    op.create_index(op.f('ix_duplicate_case_status'), 'duplicate_case', ['status'])


def downgrade() -> None:
    op.drop_table('duplicate_case')
    op.drop_table('face_import_item')
    op.drop_table('face_import_batch')
    op.drop_table('face_index_change')
