import { Uuid } from '@dolly/domain';

/** Path parameter `:templateId`, checked before anything is looked up. */
export const TemplateIdParam = Uuid('The template.');
