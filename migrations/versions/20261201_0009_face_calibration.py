"""face decision thresholds calibrated on the register, and reviewers' verdicts as labels

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 15:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes


# revision identifiers, used by Alembic.
revision: str = '0009'
down_revision: Union[str, None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('face_calibration',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('model_version', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('tail_fraction', sa.Float(), nullable=False),
    sa.Column('target_fmr', sa.Float(), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('population', sa.Integer(), nullable=False),
    sa.Column('impostor_pairs', sa.Integer(), nullable=False),
    sa.Column('relative_pairs', sa.Integer(), nullable=False),
    sa.Column('auto_accept', sa.Boolean(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('thresholds', sa.JSON(), nullable=False),
    sa.Column('figures', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_face_calibration'))
    )
    op.create_table('face_label',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('attempt_id', sa.Uuid(), nullable=False),
    sa.Column('pensioner_id', sa.Uuid(), nullable=False),
    sa.Column('genuine', sa.Boolean(), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('components', sa.JSON(), nullable=False),
    sa.Column('model_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('model_version', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('calibration_id', sa.Integer(), nullable=True),
    sa.Column('region_code', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
    sa.Column('age_band', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('sex', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('decided_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['certification_attempt.id'], name=op.f('fk_face_label_attempt_id_certification_attempt')),
    sa.ForeignKeyConstraint(['pensioner_id'], ['pensioner.id'], name=op.f('fk_face_label_pensioner_id_pensioner')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_face_label')),
    sa.UniqueConstraint('attempt_id', name=op.f('uq_face_label_attempt_id'))
    )
    with op.batch_alter_table('face_label', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_face_label_pensioner_id'), ['pensioner_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('face_label', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_face_label_pensioner_id'))
    op.drop_table('face_label')
    op.drop_table('face_calibration')
