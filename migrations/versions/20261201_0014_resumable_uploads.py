"""resumable uploads (tus 1.0) of an attempt's selfie and video

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 20:55:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0014'
down_revision: Union[str, None] = '0013'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

def upgrade() -> None:
    op.create_table(
        'resumable_upload',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('attempt_id', sa.Uuid(), nullable=False),
        sa.Column('pensioner_id', sa.Uuid(), nullable=False),
        sa.Column(
            'part',
            sa.Enum('selfie', 'video', name='uploadpart', native_enum=False, create_constraint=False, length=32),
            nullable=False,
        ),
        sa.Column('length', sa.Integer(), nullable=False),
        sa.Column('offset', sa.Integer(), nullable=False),
        sa.Column('received', sa.Integer(), nullable=False),
        sa.Column('chunks', sa.Integer(), nullable=False),
        sa.Column('media_format', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column('nonce', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('mirrored', sa.Boolean(), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['attempt_id'], ['certification_attempt.id']),
        sa.ForeignKeyConstraint(['pensioner_id'], ['pensioner.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('resumable_upload', schema=None) as batch_op:
        batch_op.create_index('ix_resumable_upload_attempt_id', ['attempt_id'], unique=False)
        batch_op.create_index('ix_resumable_upload_pensioner_id', ['pensioner_id'], unique=False)
        batch_op.create_index('ix_resumable_upload_expires_at', ['expires_at'], unique=False)

def downgrade() -> None:
    with op.batch_alter_table('resumable_upload', schema=None) as batch_op:
        batch_op.drop_index('ix_resumable_upload_expires_at')
        batch_op.drop_index('ix_resumable_upload_pensioner_id')
        batch_op.drop_index('ix_resumable_upload_attempt_id')
    op.drop_table('resumable_upload')
