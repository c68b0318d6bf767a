export { definitionDifferences, type UsedObjects } from './objects.js'
export {
  parseReceipt,
  RECEIPT_FORMAT,
  type ReceiptEntities,
  type ReceiptObject,
  type ReceiptOutput,
  type ReceiptQuery,
  type ReceiptSource,
  readReceiptFile,
  receiptPathFor,
  receiptText,
  type TrainingSetReceipt,
  writeReceiptFile,
} from './receipt.js'
export { larderVersion, type OutputTarget, type ReceiptInputs, recordTrainingSet } from './record.js'
export {
  type PlannedTrainingSet,
  type ReceiptChange,
  type ReproduceHost,
  type ReproduceOptions,
  type ReproduceResult,
  reproduceTrainingSet,
  type TrainingSetRequest,
} from './reproduce.js'
